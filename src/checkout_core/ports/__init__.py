"""Ports: what the core needs from the outside world, as ``typing.Protocol`` classes.
Adapters in ``src/adapters`` implement them; ``entrypoints/bootstrap.py`` picks which."""

"""The ``checkout`` command line (Click)."""

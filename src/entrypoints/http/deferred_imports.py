"""Modules Litestar imports at module level that no request of ours ever uses, deferred.

An API worker's memory is mostly the code it has imported (issue 16: ≤ 90 MB a worker). Litestar
imports two modules at the top of its own that serve only features this API leaves off:

* ``pdb`` (``litestar/app.py``): the default ``debugger_module``, called only with
  ``pdb_on_exception`` (never set here); it brings ``bdb``, ``cmd``, ``code``, ``codeop``, ``glob``
  … (~0.5 MB).
* ``yaml`` (``litestar/openapi/plugins.py``): renders ``/schema/openapi.yaml``, which no checkout
  request asks for (clients and the docs use ``openapi.json``); PyYAML and libyaml (~1.2 MB).

:func:`defer_unused_imports` puts a stand-in under each name in ``sys.modules`` *before* Litestar
is imported, so Litestar's ``import pdb`` binds the stand-in and nothing is loaded. The first
attribute anyone reads from a stand-in imports the real module and copies it in, so a use that
does come (a developer's ``pdb_on_exception``, a fetch of ``openapi.yaml``) still works — it only
pays the import then. ``importlib.util.LazyLoader`` cannot do this: the import statement itself
reads the lazy module's ``__spec__``, which loads it.

Only the uvicorn worker's factory (:func:`entrypoints.http.asgi.create_from_env`) calls it, as its
first step; tests/entrypoints/test_worker_imports.py checks that a real worker holds neither."""

from __future__ import annotations

import importlib
import sys
import threading
import types
from typing import Any

#: The modules deferred (see the module docstring for why each is unused).
DEFERRED = ("pdb", "yaml")

_loading = threading.Lock()


class DeferredModule(types.ModuleType):
    """Stands in for a module until an attribute is read from it, then becomes it.

    ``__getattr__`` runs only for names the stand-in lacks, so once the real module's names are
    copied in, reads cost what they cost on the real module."""

    def __getattr__(self, name: str) -> Any:
        with _loading:  # two threads' first reads import the module once
            if sys.modules.get(self.__name__) is self:
                del sys.modules[self.__name__]
                real = importlib.import_module(self.__name__)
                self.__dict__.update(real.__dict__)
        return object.__getattribute__(self, name)

    @property
    def loaded(self) -> bool:
        """Whether the real module has been imported into this stand-in."""
        return sys.modules.get(self.__name__) is not self


def defer_unused_imports(names: tuple[str, ...] = DEFERRED) -> None:
    """Install a stand-in for each of ``names`` not imported yet (one already imported is left)."""
    for name in names:
        if name not in sys.modules:
            sys.modules[name] = DeferredModule(name, f"{name}, deferred until first used ({__name__})")

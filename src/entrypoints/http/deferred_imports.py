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
attribute anyone reads from a stand-in runs the module's code into it, so a use that does come (a
developer's ``pdb_on_exception``, a fetch of ``openapi.yaml``) still works — it only pays the
import then. ``importlib.util.LazyLoader`` cannot do this: the import statement itself reads the
lazy module's ``__spec__``, which its lazy module answers by loading.

Only the uvicorn worker's factory (:func:`entrypoints.http.asgi.create_from_env`) calls it, as its
first step; tests/entrypoints/test_worker_imports.py checks that a real worker holds neither."""

from __future__ import annotations

import importlib
import importlib.util
import sys
import threading
import types
from typing import Any

#: The modules deferred (see the module docstring for why each is unused).
DEFERRED = ("pdb", "yaml")

_loading = threading.RLock()  # re-entrant: running one module may read another stand-in

#: name → its stand-in, while its code has not run.
_pending: dict[str, DeferredModule] = {}


class DeferredModule(types.ModuleType):
    """A module whose code runs on the first read of an attribute it lacks.

    It is the module: its code runs *into* this object (``exec_module``, as ``importlib`` would
    have done at the import), so every reference taken before — Litestar's ``pdb`` — is the real
    module once it has run, and ``sys.modules`` never holds two. ``__getattr__`` runs only for
    names the module lacks; while its code runs, a read of a name not yet defined raises
    ``AttributeError`` as on any partly initialised module. It carries its spec (and a package's
    ``__path__``) from the start, so ``importlib.util.find_spec`` answers as for the real module
    and ``import yaml.constructor`` finds the submodule without running the package first."""

    def __getattr__(self, name: str) -> Any:
        with _loading:  # two threads' first reads run the module once
            if _pending.get(self.__name__) is self:
                del _pending[self.__name__]
                spec = self.__spec__
                if spec is None or spec.loader is None:  # cannot happen: set by defer_unused_imports
                    raise ImportError(f"no loader for the deferred module {self.__name__}")
                try:
                    spec.loader.exec_module(self)
                except BaseException:
                    _pending[self.__name__] = self  # the next read runs it again
                    raise
        return object.__getattribute__(self, name)

    @property
    def loaded(self) -> bool:
        """Whether the module's code has run."""
        return _pending.get(self.__name__) is not self


def defer_unused_imports(names: tuple[str, ...] = DEFERRED) -> None:
    """Install a stand-in for each of ``names`` not imported yet (one already imported, or not
    installed at all, is left alone: its import then behaves as without this)."""
    for name in names:
        if name in sys.modules:
            continue
        spec = importlib.util.find_spec(name)  # finds, never runs, the module
        if spec is None or spec.loader is None:
            continue
        module = DeferredModule(name)
        # What importlib's module_from_spec sets before it runs a module.
        module.__spec__, module.__loader__, module.__package__ = spec, spec.loader, spec.parent
        if spec.submodule_search_locations is not None:
            module.__path__ = list(spec.submodule_search_locations)
        if spec.has_location and spec.origin is not None:
            module.__file__ = spec.origin
            module.__cached__ = spec.cached  # type: ignore[attr-defined]  # a module attribute importlib sets too
        with _loading:
            _pending[name] = module
            sys.modules[name] = module

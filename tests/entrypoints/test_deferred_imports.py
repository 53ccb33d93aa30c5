"""Deferred imports: a stand-in binds Litestar's module-level ``import pdb`` / ``import yaml``
and becomes the real module on the first attribute read (see entrypoints/http/deferred_imports.py).

Each case runs in a fresh interpreter: this test process has long imported both modules."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def _run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_litestar_imports_without_loading_pdb_or_yaml() -> None:
    out = _run(
        """
        import sys
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports()
        import litestar.app, litestar.openapi.plugins
        print(sorted(m for m in ("bdb", "cmd", "code", "yaml.loader", "yaml._yaml") if m in sys.modules))
        print(litestar.app.pdb is sys.modules["pdb"], litestar.app.pdb.loaded)
        """
    )
    assert out.splitlines() == ["[]", "True False"]


def test_the_first_attribute_read_loads_the_real_module() -> None:
    out = _run(
        """
        import sys
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports()
        import yaml
        stand_in = yaml
        print(stand_in.dump({"a": [1, 2]}).strip().replace("\\n", "|"))
        print(stand_in.loaded, "yaml.loader" in sys.modules, sys.modules["yaml"] is not stand_in)
        import yaml as again
        print(again.safe_load("b: 2"), callable(stand_in.post_mortem) if hasattr(stand_in, "post_mortem") else "-")
        """
    )
    assert out.splitlines() == ["a:|- 1|- 2", "True True True", "{'b': 2} -"]


def test_a_missing_name_is_still_an_attribute_error() -> None:
    out = _run(
        """
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports()
        import pdb
        try:
            pdb.no_such_name
        except AttributeError:
            print("AttributeError", callable(pdb.post_mortem))
        """
    )
    assert out == "AttributeError True"


def test_a_module_already_imported_is_left_alone() -> None:
    out = _run(
        """
        import sys, yaml
        real = sys.modules["yaml"]
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports()
        print(sys.modules["yaml"] is real, type(sys.modules["pdb"]).__name__)
        """
    )
    assert out == "True DeferredModule"

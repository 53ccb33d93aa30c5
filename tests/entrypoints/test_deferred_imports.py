"""Deferred imports: a stand-in binds Litestar's module-level ``import pdb`` / ``import yaml``
and becomes the real module on the first attribute read (see entrypoints/http/deferred_imports.py).

Each case runs in a fresh interpreter: this test process has long imported both modules."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


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
        print(stand_in.loaded, "yaml.loader" in sys.modules, sys.modules["yaml"] is stand_in)
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


def test_a_submodule_imported_first_runs_once_and_find_spec_answers() -> None:
    out = _run(
        """
        import importlib.util, sys
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports()
        print(importlib.util.find_spec("yaml").name, sys.modules["yaml"].loaded)
        import yaml.constructor
        constructor = sys.modules["yaml.constructor"]
        import yaml
        print(yaml.loader.SafeConstructor is constructor.SafeConstructor, yaml.loaded)
        """
    )
    assert out.splitlines() == ["yaml False", "True True"]


def test_a_failed_first_load_leaves_the_stand_in_to_try_again(tmp_path: Path) -> None:
    (tmp_path / "flaky_mod.py").write_text(
        "import os\nif not os.path.exists(os.path.join(os.path.dirname(__file__), 'ok')):\n"
        "    raise RuntimeError('not yet')\nVALUE = 42\n"
    )
    out = _run(
        f"""
        import pathlib, sys
        sys.path.insert(0, {str(tmp_path)!r})
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports(("flaky_mod",))
        import flaky_mod
        try:
            flaky_mod.VALUE
        except RuntimeError as error:
            print("first:", error, flaky_mod.loaded)
        pathlib.Path({str(tmp_path)!r}, "ok").touch()
        print("then:", flaky_mod.VALUE, flaky_mod.loaded)
        """
    )
    assert out.splitlines() == ["first: not yet False", "then: 42 True"]


def test_a_module_that_is_not_installed_gets_no_stand_in() -> None:
    out = _run(
        """
        import sys
        from entrypoints.http.deferred_imports import defer_unused_imports
        defer_unused_imports(("no_such_module_here",))
        print("no_such_module_here" in sys.modules)
        """
    )
    assert out == "False"

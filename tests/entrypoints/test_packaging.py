"""``pip install checkout-backend`` is the pure core and the memory adapters; every outside
technology is an extra, and a missing one is an ImportError that names it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import entrypoints.extras
from entrypoints.bootstrap import event_publisher
from entrypoints.extras import EXTRAS, MissingExtra
from entrypoints.settings import Settings
from tests.entrypoints.test_readme_library_example import library_example

ROOT = Path(__file__).resolve().parents[2]


def test_a_missing_extra_is_an_import_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    real = entrypoints.extras._find_spec
    monkeypatch.setattr(entrypoints.extras, "_find_spec", lambda name: None if name == "nats" else real(name))
    with pytest.raises(ImportError, match=r"pip install 'checkout-backend\[nats\]'") as raised:
        event_publisher(Settings(), stream="checkout", subject_prefix="checkout")
    assert isinstance(raised.value, MissingExtra)
    assert raised.value.name == "nats"


def test_every_extra_is_declared_in_pyproject() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text()
    for extra in (*EXTRAS, "all"):
        assert f"\n{extra} = [" in pyproject


@pytest.mark.slow
def test_the_wheel_without_extras_runs_the_readme_library_example(tmp_path: Path) -> None:
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_PROJECT"))}
    subprocess.run([uv, "build", "--wheel", "--out-dir", str(tmp_path / "dist")], cwd=ROOT, env=env, check=True)
    (wheel,) = (tmp_path / "dist").glob("checkout_backend-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--python", sys.executable, str(venv)], env=env, check=True)
    python = venv / "bin" / "python"
    subprocess.run([uv, "pip", "install", "--python", str(python), str(wheel)], env=env, check=True)
    installed = subprocess.run(
        [uv, "pip", "freeze", "--python", str(python)], env=env, check=True, capture_output=True, text=True
    ).stdout
    names = {line.split("==")[0].split(" @ ")[0].lower() for line in installed.splitlines() if line}
    assert {"sqlalchemy", "stripe", "litestar", "click", "pyjwt", "reportlab"}.isdisjoint(names), names
    example = tmp_path / "example.py"
    example.write_text(library_example())
    run = subprocess.run([str(python), str(example)], cwd=tmp_path, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("confirmed "), run.stdout

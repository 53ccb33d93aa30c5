"""The README's library example runs as written and names only the public API."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def library_example() -> str:
    section = README.read_text().split("## Use the core as a library", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return match.group(1)


def test_the_example_imports_only_checkout_core_and_the_in_memory_bootstrap() -> None:
    imports = [line for line in library_example().splitlines() if line.startswith(("import ", "from "))]
    assert imports == [
        "from checkout_core import Actor, load_demo, reserve_vehicle",
        "from entrypoints.bootstrap import bootstrap_in_memory",
    ]


def test_the_example_reserves_the_demo_car() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(library_example(), str(README), "exec"), {})  # noqa: S102
    assert out.getvalue().startswith("confirmed ")

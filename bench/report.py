"""What a section returns, how it is printed, and the statistics every section uses."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs


@attrs.define
class Section:
    """One section's results: a table for people, raw data for the JSON file, and notes that
    say what missed its target and why."""

    name: str
    title: str
    headers: list[str]
    rows: list[list[Any]] = attrs.Factory(list)
    notes: list[str] = attrs.Factory(list)
    data: dict[str, Any] = attrs.Factory(dict)

    def to_json(self) -> dict[str, Any]:
        """The section as stored in ``bench/results/*.json``."""
        return {
            "title": self.title,
            "headers": self.headers,
            "rows": self.rows,
            "notes": self.notes,
            "data": self.data,
        }


def cell(value: Any) -> str:
    """A table cell: floats rounded for reading, None as a dash."""
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain aligned text table."""
    cells = [[str(h) for h in headers], *[[cell(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        lines.append("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_markdown(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """The same table in Markdown (for docs/operations.md)."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def print_section(section: Section) -> None:
    """The section's title, table and notes on stdout."""
    print(f"\n== {section.title} ==")
    print(render_table(section.headers, section.rows))
    for note in section.notes:
        print(f"  * {note}")


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0–100) by the nearest-rank method; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def mark(ok: bool) -> str:
    """The verdict column."""
    return "ok" if ok else "OVER"


# -- the machine ------------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return None


def _git_commit(root: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10, check=True
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    # A shared working tree is usually dirty: say so, since the numbers are for commit + changes.
    return out.stdout.strip() + (" (+ uncommitted changes)" if dirty.stdout.strip() else "")


def machine_info(root: Path, postgres_version: str | None) -> dict[str, Any]:
    """What the numbers were measured on."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "os": platform.platform(),
        "postgresql": postgres_version,
        "git_commit": _git_commit(root),
    }

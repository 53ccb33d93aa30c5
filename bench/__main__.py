"""``python -m bench [--quick] [section …]``: run the benchmarks, print a table per section,
write ``bench/results/<timestamp>.json`` and ``bench/results/latest.json``.

Sections: statements, http, pdf, expiry, memory, storage (an agreement stored to S3 against the
local store), flash (a flash sale over two hosts) — all by default, in that order. ``--quick``
runs a small version of each (a few minutes in all, about 3 of them the http section's three
repetitions of every run); the full run takes longer, mostly in the 10,000-reservation expiry
sweeps and the http section (about 11 minutes)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import pg
from bench.report import Section, machine_info, print_section, render_markdown
from bench.servers import REPO_ROOT

SECTIONS = ("statements", "http", "pdf", "expiry", "memory", "storage", "flash")


def _runner(name: str, workers: int) -> Callable[[bool], Section]:
    """The section's ``run(quick)``; imported on demand so one section's imports (reportlab,
    httpx …) do not weigh on another's numbers."""
    if name == "statements":
        from bench import statements

        return statements.run
    if name == "http":
        from bench import http_load

        return lambda quick: http_load.run(quick, workers=workers)
    if name == "pdf":
        from bench import pdf

        return pdf.run
    if name == "expiry":
        from bench import expiry

        return expiry.run
    if name == "memory":
        from bench import memory

        return memory.run
    if name == "storage":
        from bench import document_storage

        return document_storage.run
    if name == "flash":
        from bench import flash_sale

        return flash_sale.run
    raise ValueError(name)


def markdown(document: dict[str, Any], only: list[str] | None = None) -> str:
    """A results file as Markdown: the machine, then each section's table and notes (of the
    ``only`` sections, if given)."""
    m = document["machine"]
    lines = [
        f"Measured {document['started_at'][:16].replace('T', ' ')} UTC{' (--quick)' if document['quick'] else ''} "
        f"on {m['cpu']} × {m['cores']} cores, {m['memory_gib']} GiB, Python {m['python']}, {m['postgresql']}, "
        f"commit {m['git_commit']}; load average {m['load_average_at_start'][0]:.1f} at start, "
        f"{m['load_average_at_end'][0]:.1f} at the end (the machine is shared).",
    ]
    for name, section in document["sections"].items():
        if "error" in section or (only and name not in only):
            continue
        lines += ["", f"**{section['title']}**", "", render_markdown(section["headers"], section["rows"])]
        lines += [""] + [f"- {note}" for note in section["notes"]] if section["notes"] else []
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run the chosen sections; exit 1 if one of them failed to run (not if a target was missed)."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("sections", nargs="*", metavar="section", help="any of: " + ", ".join(SECTIONS))
    parser.add_argument("--quick", action="store_true", help="a small version of everything (a few minutes)")
    parser.add_argument("--workers", type=int, default=1, help="uvicorn workers in the http section (default 1)")
    parser.add_argument("--results", type=Path, default=REPO_ROOT / "bench" / "results", help="where the JSON files go")
    parser.add_argument(
        "--markdown",
        type=Path,
        metavar="RESULTS_JSON",
        help="run nothing: print that results file's tables (of the sections named, else all) as Markdown "
        "(docs/operations.md's current tables are made so)",
    )
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text()), args.sections or None))
        return 0
    unknown = [s for s in args.sections if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    chosen = args.sections or list(SECTIONS)
    started = datetime.now(UTC)
    machine = machine_info(REPO_ROOT, pg.server_version())
    machine["load_average_at_start"] = list(os.getloadavg())
    print(
        f"bench {'--quick ' if args.quick else ''}{' '.join(chosen)} on {machine['cpu']} x{machine['cores']}, "
        f"{machine['memory_gib']} GiB, Python {machine['python']}, {machine['postgresql']}, "
        f"load average {machine['load_average_at_start'][0]:.2f}"
    )
    results: dict[str, Any] = {}
    failed = False
    for name in chosen:
        t0 = time.perf_counter()
        try:
            section = _runner(name, args.workers)(args.quick)
        except Exception:
            failed = True
            print(f"\n== {name}: FAILED ==\n{traceback.format_exc()}", file=sys.stderr)
            results[name] = {"error": traceback.format_exc()}
            continue
        section.data["seconds"] = round(time.perf_counter() - t0, 1)
        print_section(section)
        print(f"  ({section.data['seconds']} s)")
        results[name] = section.to_json()
    machine["load_average_at_end"] = list(os.getloadavg())
    document = {
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "quick": args.quick,
        "sections_run": chosen,
        "machine": machine,
        "sections": results,
    }
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = started.strftime("%Y%m%dT%H%M%SZ") + ("-quick" if args.quick else "")
    text = json.dumps(document, indent=2, default=str)
    (args.results / f"{stamp}.json").write_text(text)
    (args.results / "latest.json").write_text(text)
    print(f"\nwritten: {args.results / (stamp + '.json')} and latest.json")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

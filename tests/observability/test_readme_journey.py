"""The README's journey, run as written against ``checkout serve --demo`` from a fresh
directory: reserve, place the spec's order, ask for the signing link, upload insurance (the
advisor's steps need a signature from a browser and are covered by the CLI tests)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from bench.servers import free_port, script

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[2] / "README.md"


def journey_until_the_advisor() -> str:
    text = README.read_text()
    block = text.split("## Try it", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return block.split("# 5.", 1)[0]


def test_the_readme_never_needs_uuidgen_or_a_sibling_checkout() -> None:
    text = README.read_text()
    assert "uuidgen" not in text
    assert "../shared" not in text


def test_the_readme_journey_runs_as_written(tmp_path: Path) -> None:
    port = free_port()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # `uv run …` in the README, from this directory: the project's own environment.
    (bin_dir / "uv").write_text(f'#!/bin/sh\nshift\nexec "{Path(script("checkout")).parent}/$@"\n')
    (bin_dir / "uv").chmod(0o755)
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": str(tmp_path)}
    server = subprocess.Popen(
        [script("checkout"), "serve", "--demo", "--port", str(port)],
        cwd=tmp_path,
        env={**env, "CHECKOUT_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        subprocess.run(
            [
                "sh",
                "-c",
                f"for i in $(seq 100); do curl -sf localhost:{port}/ready >/dev/null && exit 0; sleep 0.2; done; false",
            ],
            check=True,
        )
        script_text = journey_until_the_advisor().replace("localhost:8000", f"localhost:{port}")
        ran = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script_text],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert '"status":"confirmed"' in ran.stdout
    assert '"status":"pending_documents"' in ran.stdout
    assert re.search(r'"signatureUrl":"http://127\.0\.0\.1:\d+/sign/ord_', ran.stdout), ran.stdout
    assert '"status":"pending_verification"' in ran.stdout

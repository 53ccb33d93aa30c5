"""Run the ``localstripe`` emulator as a subprocess for the tests, isolated from any other run.

localstripe keeps its whole state in one fixed file, ``/tmp/localstripe.pickle``: it loads it at
start (unless ``--from-scratch``) and rewrites it after every change
(``localstripe.resources.Store``). The path is absolute, so a different working directory or
``HOME`` does not isolate anything, and two runs on one machine (ours and a colleague's, or two CI
jobs) would overwrite each other's file. So we do not start the ``localstripe`` console script
directly: this module, run as a script, points the store at a file in the test's temporary
directory and then starts the real server (``localstripe.server.start``) with ``--from-scratch``.
Everything else is the unmodified emulator.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

#: Any ``sk_…`` key is accepted by localstripe; this one only ever talks to the emulator.
API_KEY = "sk_test_localstripe_checkout"

_STATE_ENV = "CHECKOUT_TEST_LOCALSTRIPE_STATE"


def free_port() -> int:
    """A TCP port nobody listens on right now (the emulator binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(base_url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    headers = {"Authorization": f"Bearer {API_KEY}"}
    request = urllib.request.Request(base_url + "/v1/balance", headers=headers)  # noqa: S310 - local emulator URL
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"localstripe exited early with status {process.returncode}")
        try:
            with urllib.request.urlopen(request, timeout=1) as response:  # noqa: S310 - local emulator URL
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.1)
    raise RuntimeError(f"localstripe did not answer on {base_url} within {timeout} s")


@contextlib.contextmanager
def run_localstripe(workdir: Path, *, timeout: float = 30.0) -> Iterator[str]:
    """Start an isolated localstripe, yield its base URL, stop it afterwards."""
    port = free_port()
    env = {**os.environ, _STATE_ENV: str(workdir / "localstripe.pickle")}
    log = (workdir / "localstripe.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, __file__, "--port", str(port), "--from-scratch"],
        cwd=workdir,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(base_url, process, timeout)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def flush(base_url: str) -> None:
    """Forget every object (localstripe's ``DELETE /_config/data``)."""
    request = urllib.request.Request(base_url + "/_config/data", method="DELETE")  # noqa: S310 - local emulator URL
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - local emulator URL
        assert response.status == 200


def _main() -> None:
    """Entry point of the subprocess: redirect the state file, then run the real server."""
    from localstripe import resources, server

    state_file = Path(os.environ[_STATE_ENV])

    def try_load_from_disk(self: resources.Store) -> None:
        # --from-scratch means this is never called; kept for symmetry with the original.
        if state_file.exists():
            with state_file.open("rb") as f:
                self.clear()
                self.update(pickle.load(f))  # noqa: S301 - our own file, written just below

    def dump_to_disk(self: resources.Store) -> None:
        with state_file.open("wb") as f:
            pickle.dump(self, f, protocol=pickle.HIGHEST_PROTOCOL)

    resources.Store.try_load_from_disk = try_load_from_disk
    resources.Store.dump_to_disk = dump_to_disk
    server.start()


if __name__ == "__main__":
    _main()

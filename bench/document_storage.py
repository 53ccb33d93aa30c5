"""Section "storage": an agreement stored to S3 against the local store.

The spec's agreement is rendered once; each run stores a distinct copy (a trailing comment
makes each PDF a new content address, as each order's agreement is) and reads it back, through
:class:`~adapters.documents.local_store.LocalDocumentStore` (fsync, rename) and
:class:`~adapters.documents.s3_store.S3DocumentStore` (SHA-256 checked by the server on write,
conditional create, re-hashed on read) against moto's S3 server on 127.0.0.1. moto runs in
Python on this machine: its figures are the client's cost plus a local server's, not AWS's
network round trips (expect 10–40 ms more per request in a region)."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from adapters.documents.agreement_pdf import ReportlabAgreementRenderer
from adapters.documents.local_store import LocalDocumentStore
from adapters.documents.s3_store import S3DocumentStore, make_client
from bench.pdf import spec_agreement
from bench.report import Section, percentile
from bench.servers import ManagedProcess, free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "ca-central-1"}


def moto_server(work: Path) -> ManagedProcess:
    """moto's standalone S3 server on a free port (``moto[server]``, a dev dependency)."""
    port = free_port()
    argv = [str(Path(sys.executable).parent / "moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    return ManagedProcess("moto", argv, {**os.environ, **CREDENTIALS}, f"http://127.0.0.1:{port}", work / "moto.log")


def _timed(
    store_put: Callable[[bytes], str], get: Callable[[str], bytes], pdfs: list[bytes]
) -> tuple[list[float], list[float]]:
    puts, gets = [], []
    for pdf in pdfs:
        started = time.perf_counter()
        key = store_put(pdf)
        middle = time.perf_counter()
        if get(key) != pdf:
            raise RuntimeError("a stored agreement came back different")
        puts.append((middle - started) * 1000)
        gets.append((time.perf_counter() - middle) * 1000)
    return puts, gets


def run(quick: bool) -> Section:
    """Store and read back ``runs`` agreements in each store, one at a time."""
    runs = 30 if quick else 200
    section = Section(
        "storage",
        "Agreement storage: local directory against S3 (moto on 127.0.0.1)",
        ["store", "operation", "runs", "mean ms", "p50 ms", "p99 ms", "size KiB"],
    )
    pdf = ReportlabAgreementRenderer().render(spec_agreement())
    pdfs = [pdf + b"\n%% copy %d\n" % n for n in range(runs + 3)]
    for name, value in CREDENTIALS.items():
        os.environ.setdefault(name, value)
    with tempfile.TemporaryDirectory(prefix="bench-storage-") as tmp:
        work = Path(tmp)
        local = LocalDocumentStore(work / "documents")
        server = moto_server(work).start(ready_path="/moto-api/")
        try:
            client = make_client(endpoint_url=server.base_url, region=CREDENTIALS["AWS_DEFAULT_REGION"])
            client.create_bucket(
                Bucket="bench", CreateBucketConfiguration={"LocationConstraint": CREDENTIALS["AWS_DEFAULT_REGION"]}
            )
            bucket = S3DocumentStore(client, "bench", prefix="documents/")
            results = {}
            for label, store in (("local", local), ("s3", bucket)):
                _timed(lambda b, s=store: s.put(b, "application/pdf").key, store.get, pdfs[:3])  # warm-up
                results[label] = _timed(lambda b, s=store: s.put(b, "application/pdf").key, store.get, pdfs[3:])
        finally:
            server.stop()
    for label, (puts, gets) in results.items():
        for operation, times in (("store (put)", puts), ("read back (get)", gets)):
            section.rows.append(
                [
                    label,
                    operation,
                    len(times),
                    statistics.fmean(times),
                    percentile(times, 50),
                    percentile(times, 99),
                    len(pdf) / 1024,
                ]
            )
    put_ratio = statistics.fmean(results["s3"][0]) / statistics.fmean(results["local"][0])
    section.notes.append(
        f"S3 put costs {put_ratio:.1f}× the local put here (the local put includes two fsyncs; moto keeps "
        "objects in memory); both are small next to rendering the agreement (section 3). With "
        "CHECKOUT_AGREEMENTS=worker the agreement's put runs in the document worker; a signed copy's "
        "and an insurance proof's run in their request"
    )
    section.data = {name: {"put_ms": r[0], "get_ms": r[1]} for name, r in results.items()}
    return section

"""The example alert rules load in Prometheus (``promtool check rules``), and the rules and the
Grafana dashboard only read metrics the service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from entrypoints.cli.worker_metrics import rows_handled
from entrypoints.observability.backlog_gauges import GAUGES, RECENT_REFUNDS
from entrypoints.observability.metrics import Metrics, metrics

OPS = Path(__file__).resolve().parents[2] / "ops"
ALERTS = OPS / "prometheus" / "alerts.yml"
DASHBOARD = OPS / "grafana" / "checkout-dashboard.json"
METRIC = re.compile(r"\b(checkout_[a-z0-9_]+)")


def exported_names() -> set[str]:
    """Every series name the service can export."""
    m: Metrics = metrics()
    names = {"checkout_backlog_read_ok", RECENT_REFUNDS, *GAUGES}
    for collector in vars(m).values():
        for family in collector.describe():
            base = family.name
            names |= {base, f"{base}_total", f"{base}_bucket", f"{base}_count", f"{base}_sum"}
    return names


def test_promtool_accepts_the_alert_rules() -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by .ci/run (Debian's prometheus package)"
    checked = subprocess.run([promtool, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_rules_and_dashboard_read_exported_metrics() -> None:
    exported = exported_names()
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = set(METRIC.findall(ALERTS.read_text())) | {n for e in expressions for n in METRIC.findall(e)}

    assert used, "no metric found"
    assert used <= exported, used - exported


def test_rows_handled_sums_the_whole_numbers_of_a_pass() -> None:
    assert rows_handled({"expired": 3, "refunded": 2, "at": "2025-12-23T10:30:00Z", "dry": True}) == 5

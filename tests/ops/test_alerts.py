"""The shipped alert rules and dashboard only use metrics calsync exports, with bounded labels."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import get_args

import yaml

from daemon.metrics import MetricName, Metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
METRIC = re.compile(r"\bcalsync_[a-z0-9_]+")
ALLOWED_LABELS = {
    "route",
    "method",
    "status",
    "provider",
    "state",
    "outcome",
    "action",
    "topic",
    "group",
    "reason",
}


def exported() -> set[str]:
    """Every series name the registry can produce (families with no children yet included)."""
    names: set[str] = set()
    for family in Metrics().registry.collect():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def test_metric_names_literal_matches_the_registry() -> None:
    names = exported()
    for name in get_args(MetricName):
        assert name in names or name + "_bucket" in names, name


def test_metric_labels_are_bounded() -> None:
    metrics = Metrics()
    for collector in list(metrics.registry._collector_to_names):  # labels are not public API
        labels = set(getattr(collector, "_labelnames", ()))
        assert labels <= ALLOWED_LABELS, labels


def test_every_alert_expression_uses_exported_metrics() -> None:
    doc = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    names = exported()
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    must = {"CalsyncChannelExpiringUnrenewed", "CalsyncChannelRenewalFailures", "CalsyncOutboxStuck"}
    assert {r["alert"] for r in rules} >= must | {"CalsyncDeadLetters"}
    for rule in rules:
        used = set(METRIC.findall(rule["expr"]))
        assert used, rule["alert"]
        assert used <= names, (rule["alert"], used - names)
        assert rule["labels"]["severity"] in ("page", "ticket")


def test_dashboard_queries_use_exported_metrics() -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    names = exported()
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    for expr in exprs:
        used = set(METRIC.findall(expr))
        assert used and used <= names, (expr, used - names)

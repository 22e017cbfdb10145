"""The monitoring assets in deploy/observability and the runbook their alerts link to.

Offline: every PromQL expression (dashboard targets, recording and alerting rules) is parsed,
every metric it reads must be one the services register, a recording rule or Prometheus's
`up`, and every label it groups, matches or joins on must be one that metric carries. A
renamed metric or label fails here instead of leaving a panel empty or an alert silent.
"""

from __future__ import annotations

import importlib
import json
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import promql_parser as pq
import pytest
import yaml
from prometheus_client import REGISTRY

ROOT = Path(__file__).resolve().parents[2]
OBSERVABILITY = ROOT / "deploy" / "observability"
PROMETHEUS_CONFIG = OBSERVABILITY / "prometheus" / "prometheus.yml"
RULES = OBSERVABILITY / "prometheus" / "rules" / "metaconnect.rules.yml"
GRAFANA = OBSERVABILITY / "grafana"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))
RUNBOOK = ROOT / "docs" / "runbook.md"

METRIC_MODULES = (
    "metaconnect_common.http",
    "metaconnect_common.kafka.metrics",
    "metaconnect_common.metrics",
    "metaconnect_ingest.metrics",
    "metaconnect_router.metrics",
    "metaconnect_delivery.metrics",
)
SERVICES = {
    "ingest": "ingest:8001",
    "profile": "profile:8002",
    "router": "router:8003",
    "delivery": "delivery:8004",
    "console": "console:8000",
}
# Families of custom collectors: their label names show only on samples, and with no pool or
# circuit watched there are none.
CUSTOM_FAMILY_LABELS = {
    "mc_db_pool_connections": ("service", "state"),
    "mc_db_pool_limit": ("service",),
    "mc_delivery_circuit_state": ("channel", "provider"),
}
SCRAPE_LABELS = frozenset({"job", "instance"})
SERIES_SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
    "summary": ("", "_sum", "_count", "_created"),
}
GRAFANA_VARIABLES = {"__rate_interval": "1m", "__interval": "1m", "__range": "1h"}
COUNTER_FUNCTIONS = frozenset({"rate", "irate", "increase", "resets"})
GAUGE_FUNCTIONS = frozenset({"deriv", "delta", "idelta", "predict_linear"})
SET_OPERATORS = frozenset({"and", "or", "unless"})
KEEP_LABELS_AGGREGATIONS = frozenset({"topk", "bottomk", "limitk", "limit_ratio"})


@dataclass(frozen=True)
class Series:
    family: str
    labels: frozenset[str]
    counter: bool  # only ever goes up: what rate() and increase() are for


@dataclass
class Checker:
    """Walks PromQL, inferring each node's output labels, and notes every mistake it sees."""

    series: dict[str, Series]
    problems: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)

    def check(self, where: str, text: str) -> frozenset[str]:
        try:
            expr = pq.parse(_concrete(text))
        except ValueError as exc:
            self.problems.append(f"{where}: does not parse: {exc}")
            return frozenset()
        return self._labels(where, expr)

    def _labels(self, where: str, node: pq.Expr) -> frozenset[str]:
        if isinstance(node, pq.VectorSelector):
            return self._selector(where, node)
        if isinstance(node, pq.MatrixSelector):
            return self._selector(where, node.vector_selector)
        if isinstance(node, pq.ParenExpr | pq.UnaryExpr | pq.SubqueryExpr):
            return self._labels(where, node.expr)
        if isinstance(node, pq.Call):
            return self._call(where, node)
        if isinstance(node, pq.AggregateExpr):
            return self._aggregate(where, node)
        if isinstance(node, pq.BinaryExpr):
            return self._binary(where, node)
        return frozenset()  # number and string literals

    def _selector(self, where: str, node: pq.VectorSelector) -> frozenset[str]:
        if node.name is None or node.name not in self.series:
            self.problems.append(f"{where}: unknown metric {node.name!r}")
            return frozenset()
        self.names.add(node.name)
        labels = self.series[node.name].labels
        matchers = [*node.matchers.matchers, *(m for group in node.matchers.or_matchers for m in group)]
        for matcher in matchers:
            if matcher.name not in labels:
                self.problems.append(f"{where}: {node.name} has no label {matcher.name!r}")
        return labels

    def _call(self, where: str, node: pq.Call) -> frozenset[str]:
        name = node.func.name
        if name in COUNTER_FUNCTIONS | GAUGE_FUNCTIONS and isinstance(node.args[0], pq.MatrixSelector):
            metric = node.args[0].vector_selector.name
            if metric in self.series and self.series[metric].counter != (name in COUNTER_FUNCTIONS):
                kind = "counter" if self.series[metric].counter else "gauge"
                self.problems.append(f"{where}: {name}() over {metric}, a {kind}")
        labels = frozenset[str]().union(*(self._labels(where, a) for a in node.args if isinstance(a, pq.Expr)))
        if name == "histogram_quantile":
            if "le" not in labels:
                self.problems.append(f"{where}: histogram_quantile() of series without 'le'")
            return labels - {"le"}
        if name in ("label_replace", "label_join"):
            return labels | {str(node.args[1]).strip('"')}
        return labels if node.func.return_type == pq.ValueType.Vector else frozenset()

    def _aggregate(self, where: str, node: pq.AggregateExpr) -> frozenset[str]:
        inner = self._labels(where, node.expr)
        op = str(node.op)
        if op in KEEP_LABELS_AGGREGATIONS:
            result = inner
        elif node.modifier is None:
            result = frozenset()
        elif node.modifier.type == pq.AggModifierType.By:
            self._require(where, node.modifier.labels, inner, f"{op} by")
            result = frozenset(node.modifier.labels)
        else:
            self._require(where, node.modifier.labels, inner, f"{op} without")
            result = inner - set(node.modifier.labels)
        if op == "count_values":
            result |= {str(node.param).strip('"')}
        return result

    def _binary(self, where: str, node: pq.BinaryExpr) -> frozenset[str]:
        lhs, rhs = self._labels(where, node.lhs), self._labels(where, node.rhs)
        if _scalar(node.lhs):
            return rhs
        if _scalar(node.rhs):
            return lhs
        op = str(node.op)
        modifier = node.modifier
        matching = modifier.matching if modifier else None
        card = modifier.card if modifier else pq.VectorMatchCardinality.OneToOne
        on = matching is not None and matching.type == pq.LabelModifierType.Include
        listed = frozenset(matching.labels) if matching else frozenset[str]()
        if on:
            self._require(where, listed, lhs & rhs, f"'{op}' on")
            left, right = listed, listed
        else:
            self._require(where, listed, lhs | rhs, f"'{op}' ignoring")
            left, right = lhs - listed, rhs - listed
        one_to_one = card in (pq.VectorMatchCardinality.OneToOne, pq.VectorMatchCardinality.ManyToMany)
        if one_to_one and op != "or" and left != right:
            # Series match only when these label sets agree; otherwise nothing matches.
            self.problems.append(f"{where}: '{op}' joins {sorted(left)} with {sorted(right)}")
        group = frozenset(modifier.group_labels or ()) if modifier else frozenset[str]()
        if card == pq.VectorMatchCardinality.ManyToOne:
            self._require(where, group, rhs, "group_left")
            return lhs | group
        if card == pq.VectorMatchCardinality.OneToMany:
            self._require(where, group, lhs, "group_right")
            return rhs | group
        if op in SET_OPERATORS:
            return lhs & rhs if op == "or" else lhs
        # One-to-one arithmetic and comparison keep only the `on` labels, or drop the ignored.
        return listed if on else lhs - listed

    def _require(self, where: str, labels: Iterable[str], available: frozenset[str], clause: str) -> None:
        missing = sorted(set(labels) - available)
        if missing:
            self.problems.append(f"{where}: {clause} {missing}, which its operand lacks")


def _scalar(node: pq.Expr) -> bool:
    if isinstance(node, pq.NumberLiteral):
        return True
    if isinstance(node, pq.ParenExpr | pq.UnaryExpr):
        return _scalar(node.expr)
    if isinstance(node, pq.BinaryExpr):
        return _scalar(node.lhs) and _scalar(node.rhs)
    if isinstance(node, pq.Call):
        return bool(node.func.return_type == pq.ValueType.Scalar)
    return False


def _concrete(expr: str) -> str:
    """The expression with Grafana's variables replaced by values Prometheus would see."""

    def value(match: re.Match[str]) -> str:
        return GRAFANA_VARIABLES.get(match.group(1) or match.group(2), "x")

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", value, expr)


@cache
def exported() -> dict[str, Series]:
    """Every series name the services' registered families expose, with its labels."""
    for module in METRIC_MODULES:
        importlib.import_module(module)
    labels: dict[str, frozenset[str]] = {k: frozenset(v) for k, v in CUSTOM_FAMILY_LABELS.items()}
    for collector in list(REGISTRY._collector_to_names):
        name = getattr(collector, "_name", None)
        if isinstance(name, str):
            labels[name] = frozenset(getattr(collector, "_labelnames", ()))
    series: dict[str, Series] = {"up": Series("up", SCRAPE_LABELS, counter=False)}
    for family in REGISTRY.collect():
        for suffix in SERIES_SUFFIXES.get(family.type, ()):
            extra = {"le"} if suffix == "_bucket" else set()
            counter = family.type == "counter" or suffix in ("_bucket", "_sum", "_count")
            family_labels = labels.get(family.name, frozenset()) | extra | SCRAPE_LABELS
            series[family.name + suffix] = Series(family.name, family_labels, counter)
    return series


def mc_families() -> set[str]:
    exported()
    return {f.name for f in REGISTRY.collect() if f.name.startswith("mc_")}


def rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def alerts() -> list[dict[str, Any]]:
    return [rule for rule in rules() if "alert" in rule]


def dashboard(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield from panel.get("panels", [])  # collapsed rows hold theirs
        if panel["type"] != "row":
            yield panel


@cache
def checked_rules() -> Checker:
    """The rules checked in file order; each recording rule becomes a series for those after it."""
    checker = Checker(dict(exported()))
    for rule in rules():
        name = rule.get("record") or rule["alert"]
        labels = checker.check(name, rule["expr"])
        if "record" in rule:
            checker.series[rule["record"]] = Series(rule["record"], labels | set(rule.get("labels", {})), False)
    return checker


def dashboard_targets() -> Iterator[tuple[str, str]]:
    """(where, expression) of every query of every dashboard."""
    for path in DASHBOARDS:
        for panel in panels(dashboard(path)):
            for target in panel["targets"]:
                yield f"{path.name} {panel['title']!r}", target["expr"]


def reads(expr: str) -> set[str]:
    checker = Checker(checked_rules().series)
    checker.check("", expr)
    return checker.names


def used_on_dashboards() -> set[str]:
    """Series the dashboards read, directly or through the recording rules they read."""
    recorded = {rule["record"]: rule["expr"] for rule in rules() if "record" in rule}
    pending = {name for _, expr in dashboard_targets() for name in reads(expr)}
    used: set[str] = set()
    while pending:
        name = pending.pop()
        used.add(name)
        if name in recorded:
            pending |= reads(recorded[name]) - used
    return used


def github_anchor(heading: str) -> str:
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def runbook_headings() -> list[tuple[int, str]]:
    text = re.sub(r"^```.*?^```", "", RUNBOOK.read_text(), flags=re.M | re.S)
    return [(len(m.group(1)), m.group(2)) for m in re.finditer(r"^(#{1,6})\s+(.+?)\s*#*$", text, flags=re.M)]


# Structure


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_is_well_formed(path: Path) -> None:
    board = dashboard(path)
    assert board["uid"].startswith("mc-")
    assert board["title"].startswith("Metaconnect / ")
    assert board["tags"] == ["metaconnect"]
    assert board["schemaVersion"] >= 36
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    for panel in board["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        columns, lines = range(grid["x"], grid["x"] + grid["w"]), range(grid["y"], grid["y"] + grid["h"])
        area = {(x, y) for x in columns for y in lines}
        assert not area & cells, f"{panel['title']!r} overlaps another panel"
        cells |= area
    for panel in panels(board):
        assert panel["type"] in ("timeseries", "stat"), panel["title"]
        assert panel["title"], panel
        assert panel["description"], panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        assert panel["targets"], f"{panel['title']!r} has no query"
        assert all(t["expr"].strip() for t in panel["targets"]), panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]


def test_dashboard_uids_are_unique_and_cover_every_service() -> None:
    uids = [dashboard(path)["uid"] for path in DASHBOARDS]
    assert sorted(uids) == sorted({"mc-overview", *(f"mc-{s}" for s in SERVICES)})


def test_dashboards_are_what_build_py_writes() -> None:
    result = subprocess.run(
        [sys.executable, str(GRAFANA / "build.py"), "--check"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_prometheus_scrapes_every_service_and_loads_the_rules() -> None:
    config = yaml.safe_load(PROMETHEUS_CONFIG.read_text())
    interval = config["global"]["scrape_interval"]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    for service, target in SERVICES.items():
        job = jobs[service]
        assert job.get("metrics_path", "/metrics") == "/metrics"
        assert job.get("scrape_interval", interval) == "15s"
        assert [t for sc in job["static_configs"] for t in sc["targets"]] == [target]
        assert "labels" not in job["static_configs"][0], "a target label would rename the services' own"
    loaded = [(PROMETHEUS_CONFIG.parent / path).resolve() for path in config["rule_files"]]
    assert loaded == [RULES.resolve()]


def test_up_is_watched_for_every_service() -> None:
    """The target-down alert and the overview's scrape-target panel name every scraped service."""

    def jobs(expr: str) -> list[str]:
        found = re.search(r'up\{job=~"([^"]+)"\}', expr)
        assert found, expr
        return sorted(found.group(1).split("|"))

    (alert,) = [rule for rule in alerts() if rule["alert"] == "MetaconnectTargetDown"]
    assert jobs(alert["expr"]) == sorted(SERVICES)
    overview = dashboard(GRAFANA / "dashboards" / "metaconnect-overview.json")
    (targets,) = [panel for panel in panels(overview) if panel["title"] == "Scrape targets"]
    assert [jobs(target["expr"]) for target in targets["targets"]] == [sorted(SERVICES)]


def test_grafana_provisioning() -> None:
    provisioning = GRAFANA / "provisioning"
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert (source["type"], source["uid"], source["url"]) == ("prometheus", "prometheus", "http://prometheus:9090")
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "metaconnect.yml").read_text())["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_rules_are_complete() -> None:
    names = Counter(rule.get("record") or rule.get("alert") for rule in rules())
    assert [n for n, count in names.items() if count > 1] == []
    for rule in rules():
        assert rule["expr"].strip()
        if "record" in rule:
            assert rule["record"].startswith("metaconnect:"), rule["record"]
            continue
        assert rule["alert"].startswith("Metaconnect"), rule["alert"]
        assert pq.parse_duration(rule["for"]), rule["alert"]
        assert rule["labels"]["severity"] in ("page", "ticket"), rule["alert"]
        annotations = rule["annotations"]
        assert annotations["summary"], rule["alert"]
        assert annotations["description"], rule["alert"]
        assert annotations["runbook_url"].startswith("docs/runbook.md#"), rule["alert"]


# PromQL


def test_rule_expressions_read_exported_metrics_and_labels() -> None:
    assert checked_rules().problems == []


def test_dashboard_expressions_read_exported_metrics_and_labels() -> None:
    checker = Checker(checked_rules().series)
    for where, expr in dashboard_targets():
        checker.check(where, expr)
    assert checker.problems == []


def test_every_mc_family_is_on_a_dashboard() -> None:
    series = checked_rules().series
    shown = {series[name].family for name in used_on_dashboards()}
    assert mc_families() - shown == set()


def test_custom_collectors_are_in_the_label_table() -> None:
    exported()
    described = {getattr(c, "_name", None) for c in REGISTRY._collector_to_names}
    custom = {name for name in mc_families() if name not in described}
    assert custom == set(CUSTOM_FAMILY_LABELS)


@pytest.mark.parametrize(
    ("expr", "problem"),
    [
        ("rate(mc_nope_total[5m])", "unknown metric 'mc_nope_total'"),
        ('mc_outbox_published_total{group="x"}', "mc_outbox_published_total has no label 'group'"),
        ("sum by (route) (mc_kafka_consumer_lag)", "sum by ['route'], which its operand lacks"),
        ("rate(mc_kafka_consumer_lag[5m])", "rate() over mc_kafka_consumer_lag, a gauge"),
        ("sum by (service) (mc_db_pool_limit) / sum(mc_db_pool_limit)", "'/' joins ['service'] with []"),
        ("histogram_quantile(0.99, sum by (service) (rate(mc_http_request_duration_seconds_count[5m])))", "'le'"),
        ("sum by (service, route) (metaconnect:http_requests:rate5m)", "sum by ['route'], which its operand lacks"),
    ],
)
def test_checker_catches(expr: str, problem: str) -> None:
    checker = Checker(checked_rules().series)
    checker.check("t", expr)
    assert any(problem in p for p in checker.problems), checker.problems


def test_grafana_variables_become_values() -> None:
    assert _concrete('rate(x{a="$service", b="${job:regex}"}[$__rate_interval])') == 'rate(x{a="x", b="x"}[1m])'


# Runbook


def test_runbook_has_a_section_for_every_alert_and_no_other() -> None:
    headings = runbook_headings()
    anchors = Counter[str]()
    for _, text in headings:
        anchors[github_anchor(text)] += 1
    for alert in alerts():
        path, anchor = alert["annotations"]["runbook_url"].split("#", 1)
        assert ROOT / path == RUNBOOK
        assert anchors[anchor] == 1, f"{alert['alert']}: no single heading for #{anchor}"
    documented = {text for level, text in headings if level == 3}
    assert documented == {alert["alert"] for alert in alerts()}


def test_github_anchor() -> None:
    assert github_anchor("MetaconnectCircuitOpen") == "metaconnectcircuitopen"
    assert github_anchor("Before you start: `/readyz` & co.") == "before-you-start-readyz--co"

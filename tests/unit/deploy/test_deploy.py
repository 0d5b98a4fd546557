"""deploy/ names what the switch really reads, serves and exports (README: Operations).

The compose file, the Kubernetes base and the monitoring config are text the switch never
loads, so nothing else would notice a renamed setting, port, route or metric."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from api.route_table import ROUTE_TABLE
from infra.metrics import REGISTRY
from switch.config import CoreSettings, Settings, env_name

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
# Variables the containers read that are not the switch's own settings.
OTHER_VARS = {"REDIS_PASSWORD", "RS_MEMBERS"}


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, DEPLOY / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


check = _load("check")
SETTINGS = {env_name(f) for f in Settings.model_fields}
API_PORT = CoreSettings.model_fields["port"].default
ROUTES = {r.path for r in ROUTE_TABLE if r.method == "GET"}


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    return check.render()


def _compose() -> dict[str, Any]:
    return dict(yaml.safe_load((DEPLOY / "compose" / "compose.yaml").read_text()))


def _one(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _env_file(path: Path) -> dict[str, str]:
    lines = [ln for ln in path.read_text().splitlines() if ln and not ln.startswith("#")]
    return dict(ln.split("=", 1) for ln in lines)


def test_every_setting_the_deployment_gives_is_one_the_switch_reads(
    rendered: list[dict[str, Any]],
) -> None:
    given = set(_compose()["services"]["api"]["environment"])
    given |= set(_env_file(DEPLOY / "compose" / "switch.env.example"))
    given |= set(_one(rendered, "ConfigMap", "switch-config")["data"])
    secret = yaml.safe_load((DEPLOY / "k8s" / "secret.example.yaml").read_text())
    given |= set(secret["stringData"])
    unknown = given - SETTINGS - OTHER_VARS
    assert not unknown, f"not settings of the switch (switch/config.py): {sorted(unknown)}"
    # The production essentials are all there.
    assert {"MONGODB_URI", "REDIS_URL", "RAY_ADDRESS", "SWITCH_SECRET_KEY"} <= given
    assert {"SWITCH_MASTER_KEYS", "SWITCH_MASTER_KEY_ID", "SWITCH_PUBLIC_URL"} <= given


def test_secrets_live_in_the_secret_not_the_config_map(rendered: list[dict[str, Any]]) -> None:
    config = _one(rendered, "ConfigMap", "switch-config")["data"]
    assert not {"SWITCH_SECRET_KEY", "SWITCH_MASTER_KEYS", "REDIS_URL"} & set(config)
    secret = yaml.safe_load((DEPLOY / "k8s" / "secret.example.yaml").read_text())
    assert secret not in rendered  # created from a secrets manager, never applied from git
    api = _one(rendered, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    assert {"secretRef": {"name": secret["metadata"]["name"]}} in api["envFrom"]


def test_compose_joins_the_real_services_on_the_real_ports() -> None:
    compose = _compose()
    env = compose["services"]["api"]["environment"]
    assert int(env["SWITCH_PORT"]) == API_PORT
    assert f"{API_PORT}:{env['SWITCH_PORT']}" in compose["services"]["api"]["ports"]
    assert env["RAY_ADDRESS"] == "ray-head:6379"
    assert "--port=6379" in compose["services"]["ray-head"]["command"]
    assert "--address=ray-head:6379" in compose["services"]["ray-worker"]["command"]
    hosts = re.findall(r"(mongo-\d):27017", env["MONGODB_URI"])
    assert hosts == ["mongo-0", "mongo-1", "mongo-2"]
    assert all(h in compose["services"] for h in hosts)
    assert "replicaSet=rs0" in env["MONGODB_URI"]
    assert "--replSet" in compose["services"]["mongo-0"]["command"]
    command = compose["services"]["api"]["command"]
    assert command[:2] == ["serve", "--workers"]  # app/cli.py's flags
    # The data stores are on a network with no route out and publish no port.
    assert compose["networks"]["data"]["internal"] is True
    for store in ("mongo-0", "mongo-1", "mongo-2", "redis"):
        assert "ports" not in compose["services"][store]
        assert compose["services"].get(store, {}).get("networks", ["data"]) == ["data"]


def test_probes_and_scrapes_use_real_routes_and_ports(rendered: list[dict[str, Any]]) -> None:
    config = _one(rendered, "ConfigMap", "switch-config")["data"]
    assert int(config["SWITCH_PORT"]) == API_PORT
    pod = _one(rendered, "Deployment", "api")["spec"]["template"]["spec"]
    api = pod["containers"][0]
    assert api["ports"] == [{"name": "http", "containerPort": API_PORT}]
    assert api["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert api["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert {"/healthz", "/readyz", "/metrics"} <= ROUTES
    service = _one(rendered, "Service", "api")["spec"]
    assert service["ports"][0]["targetPort"] == "http"
    assert pod["securityContext"]["runAsNonRoot"] is True
    prom = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    job = next(j for j in prom["scrape_configs"] if j["job_name"] == "switch-api")
    assert job["metrics_path"] in ROUTES
    assert job["static_configs"][0]["targets"] == [f"api:{API_PORT}"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"EXPOSE {API_PORT}" in dockerfile
    assert f"127.0.0.1:{API_PORT}/healthz" in dockerfile


def test_the_ray_cluster_runs_the_api_s_ray_version(rendered: list[dict[str, Any]]) -> None:
    import ray

    lock = (DEPLOY / "requirements.lock").read_text()
    pinned = re.search(r"^ray==(\S+) ", lock, re.M)
    assert pinned is not None
    cluster = _one(rendered, "RayCluster", "switch-ray")
    assert cluster["spec"]["rayVersion"] == pinned.group(1) == ray.__version__
    config = _one(rendered, "ConfigMap", "switch-config")["data"]
    assert config["RAY_ADDRESS"] == f"{cluster['metadata']['name']}-head-svc:6379"
    groups = cluster["spec"]["workerGroupSpecs"]
    assert cluster["spec"]["enableInTreeAutoscaling"] is True
    assert all(g["maxReplicas"] > g["minReplicas"] for g in groups)


def test_every_workload_has_a_disruption_budget_or_is_single(
    rendered: list[dict[str, Any]],
) -> None:
    budgets = [
        d["spec"]["selector"]["matchLabels"] for d in rendered if d["kind"] == "PodDisruptionBudget"
    ]
    for doc in rendered:
        if doc["kind"] in ("Deployment", "StatefulSet") and doc["spec"]["replicas"] > 1:
            labels = doc["spec"]["template"]["metadata"]["labels"]
            assert any(b.items() <= labels.items() for b in budgets), doc["metadata"]["name"]


def test_the_manifests_are_valid_and_validation_catches_a_typo(
    rendered: list[dict[str, Any]],
) -> None:
    assert check.manifest_errors(rendered) == []
    broken = copy.deepcopy(rendered)
    api = _one(broken, "Deployment", "api")["spec"]["template"]["spec"]["containers"][0]
    api["readinessProbe"]["httpGett"] = api["readinessProbe"].pop("httpGet")
    ray = _one(broken, "RayCluster", "switch-ray")["spec"]
    ray["workerGroupSpecs"][0]["maxReplica"] = 3
    errors = check.manifest_errors(broken)
    assert len(errors) == 2
    assert errors[0].startswith("Deployment/api") and "httpGett" in errors[0]
    assert errors[1].startswith("RayCluster/switch-ray") and "maxReplica" in errors[1]


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl (its kustomize) not installed")
def test_the_renderer_matches_kustomize(rendered: list[dict[str, Any]]) -> None:
    out = subprocess.run(
        ["kubectl", "kustomize", str(check.BASE)], capture_output=True, text=True, check=True
    ).stdout
    key = lambda d: (d["kind"], d["metadata"]["name"])  # noqa: E731
    assert sorted(yaml.safe_load_all(out), key=key) == sorted(rendered, key=key)


def _exported() -> set[str]:
    names = {"up"}
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return names


def _metric_names(expr: str) -> set[str]:
    without_labels = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\"[^\"]*\"", "", expr)
    words = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", without_labels))
    return {w for w in words if w.startswith(("switch", "up"))}


def _panels() -> list[dict[str, Any]]:
    return [p for board in check.dashboards().values() for p in board["panels"]]


def test_rules_and_dashboards_use_only_metrics_the_switch_exports() -> None:
    rules = [
        rule
        for path in sorted((DEPLOY / "prometheus" / "rules").glob("*.yml"))
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]
    recorded = {r["record"] for r in rules if "record" in r}
    known = _exported() | recorded
    exprs = [r["expr"] for r in rules]
    exprs += [e for board in check.dashboards().values() for e in check.dashboard_exprs(board)]
    used = set().union(*map(_metric_names, exprs))
    assert used - known == set()
    # Each recording rule is shown or alerted on, and the dashboard covers the issue's list.
    assert recorded <= used
    titles = " ".join(p["title"].lower() for b in check.dashboards().values() for p in b["panels"])
    for topic in ("by rail", "success", "p99", "breakers", "webhook", "queue depth"):
        assert topic in titles
    # ... each from the gauge or histogram that measures it, not inferred from counters.
    exprs_of = {p["title"]: " ".join(check.dashboard_exprs({"panels": [p]})) for p in _panels()}
    for title, series in (
        ("Breakers open", "switch:breaker_open"),
        ("Payments stuck past expiry", "switch:payments_past_expiry"),
        ("Created to final", "switch:payment_duration_seconds"),
        ("Webhook backlog", "switch:webhook_backlog"),
        ("Queue depth: items waiting", "switch:queue_depth"),
    ):
        assert any(t.startswith(title) and series in e for t, e in exprs_of.items()), title


def test_fluent_bit_parses_the_switch_s_log_lines() -> None:
    import logging

    from switch.logs import JsonFormatter

    record = logging.LogRecord("api.access", logging.INFO, __file__, 1, "GET /healthz", None, None)
    line = json.loads(JsonFormatter("api").format(record))
    parsers = (DEPLOY / "fluent-bit" / "parsers.conf").read_text()
    fields = dict(re.findall(r"^\s+(\w+)\s+(.+)$", parsers, re.M))
    assert fields["Format"] == "json"
    assert isinstance(line[fields["Time_Key"]], float)  # Unix seconds with milliseconds
    assert fields["Time_Format"] == "%s.%L"
    assert {"level", "logger", "msg", "proc", "pid"} <= set(line)
    conf = (DEPLOY / "fluent-bit" / "fluent-bit.conf").read_text()
    assert "Parser        switch_json" in conf and "Name        switch_json" in parsers
    compose = _compose()
    logging_opts = compose["services"]["api"]["logging"]["options"]
    assert logging_opts["fluentd-address"].endswith(":24224") and "Port          24224" in conf
    assert logging_opts["tag"].startswith("switch.")

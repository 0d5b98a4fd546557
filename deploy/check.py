"""Static checks of deploy/ for `make lint-deploy` (no cluster or container engine needed).

- render: the kustomize base, rendered here for the subset of kustomize it uses (namespace,
  labels, resources, configMapGenerator; anything else is refused, so this cannot silently
  differ from `kubectl kustomize`).
- every rendered manifest against the Kubernetes schemas (kubernetes-validate, strict), the
  RayCluster against KubeRay's CRD schema (deploy/schemas/, its version in the file name).
- every Grafana dashboard against the schema of the model fields it uses, and every PromQL
  expression in it parsed by promtool (each becomes a recording rule of a scratch file).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

DEPLOY = Path(__file__).resolve().parent
BASE = DEPLOY / "k8s" / "base"
KUBERNETES_VERSION = "1.33.0"
RAYCLUSTER_CRD = DEPLOY / "schemas" / "kuberay-v1.7.0-ray.io_rayclusters.yaml"
DASHBOARD_SCHEMA = DEPLOY / "schemas" / "grafana-dashboard.schema.json"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}
KUSTOMIZE_KEYS = {"apiVersion", "kind", "namespace", "labels", "resources", "configMapGenerator"}
# Grafana's variables, replaced by a value of the same type before parsing.
GRAFANA_VARS = {"$__rate_interval": "5m", "$__interval": "1m", "$__range": "1h"}


def render(base: Path = BASE) -> list[dict[str, Any]]:
    kust = yaml.safe_load((base / "kustomization.yaml").read_text())
    unknown = set(kust) - KUSTOMIZE_KEYS
    if unknown:
        raise ValueError(f"kustomization uses {sorted(unknown)}: extend deploy/check.py first")
    docs: list[dict[str, Any]] = []
    for name in kust["resources"]:
        docs.extend(d for d in yaml.safe_load_all((base / name).read_text()) if d)
    for gen in kust.get("configMapGenerator", []):
        data = {Path(f).name: (base / f).read_text() for f in gen["files"]}
        docs.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {"name": gen["name"]},
                "data": data,
            }
        )
    labels: dict[str, str] = {}
    for entry in kust.get("labels", []):
        if set(entry) != {"pairs"}:
            raise ValueError("labels: only `pairs` (metadata labels) is rendered here")
        labels |= entry["pairs"]
    for doc in docs:
        meta = doc.setdefault("metadata", {})
        if doc["kind"] not in CLUSTER_SCOPED and "namespace" in kust:
            meta["namespace"] = kust["namespace"]
        if labels:
            meta["labels"] = {**meta.get("labels", {}), **labels}
    return docs


def raycluster_schema() -> dict[str, Any]:
    crd = yaml.safe_load(RAYCLUSTER_CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    return dict(version["schema"]["openAPIV3Schema"])


def manifest_errors(docs: list[dict[str, Any]]) -> list[str]:
    errors = []
    ray_schema = raycluster_schema()
    for doc in docs:
        where = f"{doc['kind']}/{doc['metadata'].get('name')}"
        try:
            if doc["apiVersion"] == "ray.io/v1":
                _strict_validate(doc, ray_schema)
            else:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except (kubernetes_validate.ValidationError, jsonschema.ValidationError) as exc:
            errors.append(f"{where}: {getattr(exc, 'message', exc)}")
    return errors


def _strict_validate(doc: dict[str, Any], schema: dict[str, Any]) -> None:
    """Like kubectl's strict field validation: an unknown field is an error, as is a wrong type."""
    jsonschema.validate(doc, _no_extra_fields(schema))


def _no_extra_fields(schema: Any) -> Any:
    if isinstance(schema, dict):
        out = {k: _no_extra_fields(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            out.pop("additionalProperties", None)
        return out
    if isinstance(schema, list):
        return [_no_extra_fields(v) for v in schema]
    return schema


def dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted(DASHBOARDS.glob("*.json"))}


def dashboard_exprs(board: dict[str, Any]) -> list[str]:
    return [t["expr"] for p in board["panels"] for t in p.get("targets", []) if "expr" in t]


def promql(expr: str) -> str:
    for var, value in GRAFANA_VARS.items():
        expr = expr.replace(var, value)
    return expr


def dashboard_errors() -> list[str]:
    schema = json.loads(DASHBOARD_SCHEMA.read_text())
    errors = []
    rules = []
    for name, board in dashboards().items():
        for err in jsonschema.Draft202012Validator(schema).iter_errors(board):
            errors.append(f"{name}: {'/'.join(map(str, err.absolute_path))}: {err.message}")
        rules += [
            {"record": f"dashboard:expr:{len(rules) + i}", "expr": promql(e)}
            for i, e in enumerate(dashboard_exprs(board))
        ]
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as scratch:
        yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}, scratch)
        scratch.flush()
        done = subprocess.run(  # noqa: S603 - promtool on a file we wrote
            ["promtool", "check", "rules", scratch.name],  # noqa: S607 - from Debian's prometheus
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode != 0:
        errors.append(f"a dashboard expression does not parse:\n{done.stdout}{done.stderr}")
    return errors


def main() -> int:
    docs = render()
    errors = manifest_errors(docs) + dashboard_errors()
    for line in errors:
        print(f"error: {line}", file=sys.stderr)
    if not errors:
        print(f"deploy: {len(docs)} manifests and {len(dashboards())} dashboards valid")
    return 1 if errors else 0


if __name__ == "__main__":
    raise SystemExit(main())

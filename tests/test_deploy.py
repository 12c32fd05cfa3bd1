"""deploy/k8s: every manifest validates against the Kubernetes schemas (bundled with the
kubernetes-validate package, nothing downloaded), and the pieces fit: probes, scrape
annotations, a volume per gateway replica, a disruption budget, a config the gateway accepts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gateway.config import parse_config

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
KUBERNETES = "1.37.0"


def kustomization() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return loaded


def resources() -> list[dict[str, Any]]:
    return [
        document
        for name in kustomization()["resources"]
        for document in yaml.safe_load_all((K8S / name).read_text())
    ]


def named(kind: str, name: str) -> dict[str, Any]:
    return next(r for r in resources() if r["kind"] == kind and r["metadata"]["name"] == name)


def container(workload: dict[str, Any]) -> dict[str, Any]:
    (found,) = workload["spec"]["template"]["spec"]["containers"]
    return found


def test_the_kustomization_lists_every_manifest_in_the_folder() -> None:
    listed = set(kustomization()["resources"])
    assert listed == {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize(
    "resource", resources(), ids=lambda r: f"{r['kind']}/{r['metadata']['name']}"
)
def test_each_manifest_validates_against_the_kubernetes_schema(resource: dict[str, Any]) -> None:
    kubernetes_validate.validate(resource, KUBERNETES, strict=True)


def test_a_manifest_with_a_misspelt_field_fails_validation() -> None:
    broken = named("StatefulSet", "memory-gateway")
    broken["spec"]["replica"] = 3
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES, strict=True)


def test_the_gateways_are_probed_scraped_sized_and_keep_their_journal_on_a_volume() -> None:
    gateway = named("StatefulSet", "memory-gateway")
    (count,) = [r["count"] for r in kustomization()["replicas"] if r["name"] == "memory-gateway"]
    assert count >= 2
    pod = gateway["spec"]["template"]
    annotations = pod["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    main = container(gateway)
    assert main["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert main["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert {"cpu", "memory"} <= set(main["resources"]["requests"])
    (claim,) = gateway["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in main["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/app/data"


def test_the_disruption_budget_covers_the_gateways() -> None:
    budget = named("PodDisruptionBudget", "memory-gateway")
    selector = budget["spec"]["selector"]["matchLabels"]
    pod_labels = named("StatefulSet", "memory-gateway")["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= pod_labels.items()


def test_chroma_keeps_its_data_on_a_persistent_volume() -> None:
    chroma = named("StatefulSet", "memory-chroma")
    (claim,) = chroma["spec"]["volumeClaimTemplates"]
    mounts = {m["name"]: m["mountPath"] for m in container(chroma)["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == "/data"


def test_the_config_map_holds_a_config_the_gateway_accepts_pointing_at_the_chroma_service() -> None:
    text = named("ConfigMap", "memory-gateway-config")["data"]["gateway.yaml"]
    config = parse_config(text, {"GATEWAY_KEY": "sk-k8s"})
    service = named("Service", "memory-chroma")
    port = service["spec"]["ports"][0]["port"]
    assert config.memory.store.url == f"http://{service['metadata']['name']}:{port}"
    assert str(config.memory.store.state_dir).startswith("/app/data")
    assert config.server.host == "0.0.0.0"

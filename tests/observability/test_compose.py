"""docker-compose.yml cannot run here (no Docker engine): check that it is standard, that what it
mounts exists, and that the services point at each other consistently."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from gateway.config import load_config

ROOT = Path(__file__).resolve().parents[2]


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def mounts(service: dict[str, Any]) -> dict[str, str]:
    """Container path -> host path (relative to the repository) or named volume."""
    found = {}
    for entry in service.get("volumes", ()):
        source, target, *_ = entry.split(":")
        found[target] = source
    return found


def host_path(source: str) -> Path:
    assert source.startswith("./"), source
    return ROOT / source


def mounted(service: dict[str, Any], container_path: str) -> Path:
    """The repository file behind ``container_path`` inside ``service``."""
    path = PurePosixPath(container_path)
    for target, source in mounts(service).items():
        if path == PurePosixPath(target) or PurePosixPath(target) in path.parents:
            return host_path(source) / path.relative_to(target)
    raise AssertionError(f"{container_path} is not mounted")


def test_the_stack_has_its_services_and_every_mount_exists() -> None:
    spec = compose()
    services = spec["services"]
    assert set(services) == {"gateway", "gateway-2", "chroma", "prometheus", "grafana"}
    assert (ROOT / services["gateway"]["build"] / "Dockerfile").is_file()
    declared = set(spec.get("volumes") or {})
    for name, service in services.items():
        for source in mounts(service).values():
            if source.startswith("./"):
                assert host_path(source).exists(), (name, source)
            else:
                assert source in declared, (name, source)


def test_the_gateway_uses_the_chroma_server_and_serves_metrics() -> None:
    services = compose()["services"]
    gateway = services["gateway"]
    config_file = mounted(gateway, gateway["environment"]["GATEWAY_CONFIG"])
    config = load_config(config_file, {"GATEWAY_KEY": "sk-compose"})
    assert config.server.host == "0.0.0.0" and config.server.port == 8080
    assert config.memory.enabled and config.memory.store.url == "http://chroma:8000"
    assert config.metrics.enabled and not config.metrics.require_key
    assert "8080:8080" in gateway["ports"]
    chroma = services["chroma"]
    assert chroma["image"].startswith("chromadb/chroma:")
    assert "/data" in mounts(chroma)  # where the official image persists


def test_prometheus_scrapes_the_gateway() -> None:
    prometheus = compose()["services"]["prometheus"]
    config_path = next(
        a.split("=", 1)[1] for a in prometheus["command"] if a.startswith("--config.file=")
    )
    config_file = mounted(prometheus, config_path)
    (job,) = yaml.safe_load(config_file.read_text())["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    assert job["static_configs"] == [{"targets": ["gateway:8080", "gateway-2:8080"]}]
    promtool = shutil.which("promtool")
    if promtool is not None:  # shipped with Debian's prometheus package
        subprocess.run(
            [promtool, "check", "config", str(config_file)], check=True, capture_output=True
        )


def test_grafana_is_provisioned_with_the_datasource_and_the_dashboards() -> None:
    grafana = compose()["services"]["grafana"]
    provisioning = mounted(grafana, "/etc/grafana/provisioning")
    (source,) = yaml.safe_load((provisioning / "datasources" / "prometheus.yaml").read_text())[
        "datasources"
    ]
    assert source["type"] == "prometheus" and source["url"] == "http://prometheus:9090"
    (provider,) = yaml.safe_load((provisioning / "dashboards" / "dashboards.yaml").read_text())[
        "providers"
    ]
    dashboards = mounted(grafana, provider["options"]["path"])
    assert dashboards == ROOT / "grafana" / "dashboards"
    assert sorted(p.name for p in dashboards.glob("*.json")) == ["memory-gateway.json"]
    home = grafana["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]
    assert mounted(grafana, home).is_file()
    assert grafana["environment"]["GF_AUTH_ANONYMOUS_ORG_ROLE"] == "Viewer"


def test_the_compose_file_is_valid_by_the_compose_specification() -> None:
    # compose_spec parses strictly (unknown keys, wrong types); YAML merge keys resolved first.
    from compose_spec import PyCompose

    parsed = PyCompose.from_json(json.dumps(compose()))
    assert set(parsed.service_names()) == set(compose()["services"])


def test_two_gateway_replicas_share_the_store_and_keep_their_journals_apart() -> None:
    services = compose()["services"]
    replicas = [services["gateway"], services["gateway-2"]]
    configs = [mounted(r, r["environment"]["GATEWAY_CONFIG"]) for r in replicas]
    assert configs[0] == configs[1]
    assert mounts(replicas[0])["/app/data"] != mounts(replicas[1])["/app/data"]
    assert {r["ports"][0].split(":")[0] for r in replicas} == {"8080", "8081"}

"""The config file: interpolation, validation messages that name the key, and the CLI check."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import interpolate, load_config, parse_config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]
MINIMAL = """
auth: {keys: [{key: "${GATEWAY_KEY}", tenant: acme}]}
models: [{name: echo, model: echo}]
"""


def test_interpolation_forms() -> None:
    env = {"A": "1", "EMPTY": ""}
    assert interpolate("x${A}y", env, "k") == "x1y"
    assert interpolate("${MISSING:-fallback}", env, "k") == "fallback"
    assert interpolate("${EMPTY:-fallback}", env, "k") == "fallback"
    assert interpolate("${EMPTY}", env, "k") == ""
    assert interpolate("$${A}", env, "k") == "${A}"
    assert interpolate("${A:-}", env, "k") == "1"


def test_missing_variable_names_the_key_and_the_variable() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL, {})
    assert "auth.keys[0].key" in info.value.message
    assert "GATEWAY_KEY" in info.value.message


def test_interpolated_numbers_are_typed() -> None:
    config = parse_config(MINIMAL + "server: {port: '${PORT:-9001}'}", {"GATEWAY_KEY": "k"})
    assert config.server.port == 9001


@pytest.mark.parametrize(
    ("extra", "path", "expected"),
    [
        ("server: {port: abc}", "server.port", "integer"),
        ("server: {port: 70000}", "server.port", "65535"),
        ("server: {colour: red}", "server.colour", "Extra inputs are not permitted"),
        ("memory: {retrieval: {timeout_ms: 0}}", "memory.retrieval.timeout_ms", "greater than"),
        (
            "memory: {embedding: {query_precision: fp16}}",
            "memory.embedding.query_precision",
            "'int8' or 'fp32'",
        ),
        ("context: {budget_tokens: -1}", "context.budget_tokens", "greater than"),
        ("extraction: {mode: sometimes}", "extraction.mode", "'facts', 'turns' or 'off'"),
    ],
)
def test_bad_values_name_the_key_path(extra: str, path: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + extra, {"GATEWAY_KEY": "k"})
    assert f"{path}:" in info.value.message
    assert expected in info.value.message


def test_model_entries_are_checked() -> None:
    env = {"GATEWAY_KEY": "k"}
    dup = "auth: {keys: [{key: k, tenant: t}]}\nmodels: [{name: a, model: echo}, {name: a, model: echo}]"
    with pytest.raises(ConfigError, match=r"models\[1\]\.name: 'a' is configured twice"):
        parse_config(dup, env)
    bad_fallback = (
        "auth: {keys: [{key: k, tenant: t}]}\nmodels: [{name: a, model: echo, fallbacks: [b]}]"
    )
    with pytest.raises(ConfigError, match=r"models\[0\]\.fallbacks: 'b'"):
        parse_config(bad_fallback, env)
    with pytest.raises(ConfigError, match=r"models\[0\]\.timeout_s"):
        parse_config(
            "auth: {keys: [{key: k, tenant: t}]}\nmodels: [{name: a, model: echo, timeout_s: 0}]",
            env,
        )
    with pytest.raises(ConfigError, match=r"extraction\.model: 'nope'"):
        parse_config(MINIMAL + "extraction: {model: nope}", env)
    with pytest.raises(ConfigError, match=r"routing\.default_model: 'nope'"):
        parse_config(MINIMAL + "routing: {default_model: nope}", env)


def test_secrets_are_not_echoed_in_errors() -> None:
    text = "auth: {keys: [{key: sk-very-secret, tenant: 'bad tenant!'}, {key: sk-very-secret, tenant: t}]}\nmodels: [{name: e, model: echo}]"
    with pytest.raises(ConfigError) as info:
        parse_config(text, {})
    assert "sk-very-secret" not in info.value.message
    assert "auth.keys[0].tenant" in info.value.message


def test_config_is_frozen() -> None:
    config = parse_config(MINIMAL, {"GATEWAY_KEY": "k"})
    with pytest.raises(ValidationError):
        config.server.port = 1  # type: ignore[misc]


def test_empty_provider_key_means_no_key() -> None:
    text = MINIMAL + "\n  - {name: gpt, model: openai/gpt-4o-mini, api_key: '${OPENAI_API_KEY:-}'}"
    text = text.replace(
        "models: [{name: echo, model: echo}]", "models:\n  - {name: echo, model: echo}"
    )
    config = parse_config(text, {"GATEWAY_KEY": "k"})
    assert config.models[1].api_key is None


def test_yaml_errors_and_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        parse_config("auth: [", {})
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml", {})


def test_example_config_is_valid_without_any_environment() -> None:
    config = load_config(ROOT / "config" / "gateway.yaml", {})
    assert config.model("echo") is not None


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args], capture_output=True, text=True, cwd=ROOT, env=env
    )


def test_check_config_command(tmp_path: Path) -> None:
    ok = run_cli("check-config", "config/gateway.yaml")
    assert ok.returncode == 0, ok.stderr
    assert "OK" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("${GATEWAY_KEY}", "k") + "server: {port: high}")
    result = run_cli("check-config", str(bad))
    assert result.returncode == 2
    assert "server.port" in result.stderr
    assert "Traceback" not in result.stderr

"""The config file: interpolation, validation messages that name the key, and the CLI check."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from gateway.config import (
    CONFIG_ENV,
    MULTIPROC_ENV,
    default_environment,
    export_to_workers,
    interpolate,
    load_config,
    load_worker_config,
    parse_config,
)
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
        ("server: {colour: red}", "server.colour", "unknown key (expected one of: host, port,"),
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


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("memory: {store: {paht: ./x}}", "memory.store.paht: unknown key; did you mean 'path'?"),
        ("contxt: {budget_tokens: 5}", "contxt: unknown key; did you mean 'context'?"),
        (
            "context: {budjet_tokens: 5}",
            "context.budjet_tokens: unknown key; did you mean 'budget_tokens'?",
        ),
        (
            "tenants: {acme: {context: {tonne: brief}}}",
            "tenants.acme.context.tonne: unknown key; did you mean 'tone'?",
        ),
    ],
)
def test_a_misspelt_key_gets_a_suggestion(extra: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + extra, {"GATEWAY_KEY": "k"})
    assert message in info.value.message.splitlines()[1]


def test_a_misspelt_key_in_a_list_entry_gets_a_suggestion_and_hides_its_value() -> None:
    text = MINIMAL.replace("model: echo}", "model: echo, api_kee: sk-secret-999}")
    with pytest.raises(ConfigError) as info:
        parse_config(text, {"GATEWAY_KEY": "k"})
    assert "models[0].api_kee: unknown key; did you mean 'api_key'?" in info.value.message
    assert "sk-secret-999" not in info.value.message


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


def test_check_config_takes_config_like_serve(tmp_path: Path) -> None:
    by_option = run_cli("check-config", "--config", "config/gateway.yaml")
    assert by_option.returncode == 0, by_option.stderr
    assert by_option.stdout.startswith("config/gateway.yaml: OK")
    from_env = run_cli("check-config", env={**os.environ, "GATEWAY_CONFIG": "config/gateway.yaml"})
    assert from_env.returncode == 0, from_env.stderr
    assert from_env.stdout.startswith("config/gateway.yaml: OK")
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("${GATEWAY_KEY}", "k") + "memory: {budjet: 5, store: {paht: x}}")
    result = run_cli("check-config", "--config", str(bad))
    assert result.returncode == 2
    assert result.stdout == ""
    assert "memory.budjet: unknown key" in result.stderr
    assert "memory.store.paht: unknown key; did you mean 'path'?" in result.stderr
    assert "Traceback" not in result.stderr


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


def test_a_worker_builds_its_config_from_what_serve_left_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(MINIMAL)
    monkeypatch.setenv("GATEWAY_KEY", "k")
    # Recorded first, so that the test leaves the environment as it found it.
    monkeypatch.setenv(CONFIG_ENV, "")
    monkeypatch.setenv(MULTIPROC_ENV, "")
    export_to_workers(CONFIG_ENV, str(path))
    export_to_workers(MULTIPROC_ENV, str(tmp_path / "metrics"))
    config = load_worker_config()
    assert config.auth.keys[0].key.get_secret_value() == "k"
    assert config.metrics.multiprocess_dir == tmp_path / "metrics"


def test_a_library_default_never_overrides_the_operator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GATEWAY_TEST_SETTING", "operator's")
    default_environment("GATEWAY_TEST_SETTING", lambda: "ours")
    assert os.environ["GATEWAY_TEST_SETTING"] == "operator's"
    monkeypatch.delenv("GATEWAY_TEST_SETTING")
    default_environment("GATEWAY_TEST_SETTING", lambda: None)
    assert "GATEWAY_TEST_SETTING" not in os.environ
    default_environment("GATEWAY_TEST_SETTING", lambda: "ours")
    assert os.environ["GATEWAY_TEST_SETTING"] == "ours"


def test_only_config_and_the_cli_touch_the_environment() -> None:
    readers = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "gateway").rglob("*.py")
        if re.search(r"\bos\.(environ|getenv|putenv|unsetenv)\b|\bgetenv\(", path.read_text())
    )
    assert set(readers) <= {"gateway/cli.py", "gateway/config.py"}

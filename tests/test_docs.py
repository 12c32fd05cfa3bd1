"""The README and the documentation site: short, linked, current, and runnable as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.config_reference import PAGE, render
from tests.support.gateway import free_port, spawn_gateway
from tests.support.memory import MODEL_DIR

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
SETUP = (
    "pip install -e . && gateway serve --config config/gateway.yaml",
    "scripts/test",
)
QUICK_START_URL = "http://127.0.0.1:8080"


def fenced_blocks(markdown: str, language: str) -> list[str]:
    """The bodies of the ```language code blocks in ``markdown``, in order."""
    return re.findall(rf"^```{language}\n(.*?)^```$", markdown, flags=re.M | re.S)


def section(markdown: str, heading: str) -> str:
    """The text under ``## heading`` up to the next ``## `` heading outside a code block."""
    lines = markdown.splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith(f"## {heading}"))
    fenced = False
    for end in range(start + 1, len(lines)):
        fenced ^= lines[end].startswith("```")
        if not fenced and lines[end].startswith("## "):
            return "".join(lines[start:end])
    return "".join(lines[start:])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built as CI builds it: any broken link or anchor is an error."""
    out = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert built.returncode == 0, built.stderr
    return out


def test_the_site_builds_strictly_with_a_page_per_capability(site: Path) -> None:
    for page in (
        "proxy",
        "memory",
        "learning",
        "personalization",
        "observability",
        "operations",
        "configuration",
        "benchmarks",
        "benchmarks-history",
    ):
        assert (site / page / "index.html").is_file(), page


def test_readme_is_short_and_opens_with_the_two_setup_commands() -> None:
    assert len(README.splitlines()) <= 250
    first = fenced_blocks(README, "bash")[0]
    assert README.index("```bash") < README.index("\n## ")
    assert tuple(first.splitlines()) == SETUP


def test_readme_has_a_section_per_capability_linking_its_page() -> None:
    for heading, page in (
        ("Proxy", "docs/proxy.md"),
        ("Who a memory belongs to", "docs/memory.md"),
        ("Memory and retrieval", "docs/memory.md"),
        ("Learning", "docs/learning.md"),
        ("Personalization", "docs/personalization.md"),
        ("Observability", "docs/observability.md"),
        ("Operations and scale-out", "docs/operations.md"),
        ("Configuration", "docs/configuration.md"),
        ("Benchmarks", "docs/benchmarks.md"),
    ):
        assert f"]({page}" in section(README, heading), heading


def test_readme_names_every_memory_status() -> None:
    for status in ("ok", "empty", "no-user", "off", "degraded"):
        assert f"`x-memory-status: {status}`" in README, status
    assert "`X-User-Id: <id>`" in README


def test_readme_links_resolve(site: Path) -> None:
    for target in re.findall(r"\]\(([^)]+)\)", README):
        if target.startswith("http"):
            continue
        path, _, anchor = target.partition("#")
        assert (ROOT / path).is_file(), target
        if anchor:
            page = site / Path(path).relative_to("docs").with_suffix("") / "index.html"
            assert f'id="{anchor}"' in page.read_text(encoding="utf-8"), target


def test_readme_keeps_no_benchmark_history() -> None:
    assert "bench/results/" not in README
    assert len(set(re.findall(r"\b20\d\d-\d\d-\d\d\b", README))) <= 2


def test_configuration_reference_is_generated_from_the_code() -> None:
    regenerate = "python -m gateway.config_reference > docs/configuration.md"
    assert (ROOT / PAGE).read_text(encoding="utf-8") == render(), f"stale: run `{regenerate}`"


def test_every_configuration_key_is_described() -> None:
    rows = [line for line in render().splitlines() if line.startswith("| `")]
    assert len(rows) > 80
    undescribed = [row.split("|")[1].strip() for row in rows if row.endswith("|  |")]
    assert not undescribed


def test_every_current_benchmark_shows_its_date_command_and_commit() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    parts = re.split(r"^## ", page, flags=re.M)[1:]
    assert len(parts) >= 6
    for part in parts:
        title = part.splitlines()[0]
        assert re.search(r"\b2026-\d\d-\d\d\b", part), title
        assert re.search(r"git `[0-9a-f]{7}`", part), title
        assert re.search(r"`(flock \S+ )?(python|gateway) [^`]+`", part), title


@pytest.fixture
def example_gateway(tmp_path: Path) -> Iterator[str]:
    """``gateway serve --config config/gateway.yaml`` as the README's first command runs it."""
    env = {
        # The example config's defaults, whatever the developer's shell says.
        "GATEWAY_KEY": "sk-gateway-dev",
        "GATEWAY_EXTRACTION_MODE": "turns",
        # Kept out of the checkout; the offline model instead of a download.
        "GATEWAY_DATA_DIR": str(tmp_path),
        "GATEWAY_MODEL_DIR": os.environ.get("GATEWAY_MODEL_DIR", str(MODEL_DIR)),
    }
    process = spawn_gateway(ROOT / "config" / "gateway.yaml", port=free_port(), env=env)
    try:
        yield process.url
    finally:
        process.process.terminate()
        process.process.wait(timeout=30)


@pytest.mark.slow
def test_the_quick_start_runs_verbatim_and_recalls_bobs_fact(example_gateway: str) -> None:
    quick_start = section(README, "Quick start")
    (code,) = fenced_blocks(quick_start, "python")
    (shown,) = fenced_blocks(quick_start, "text")
    # The only change: the port this test's gateway got instead of 8080.
    assert code.count(QUICK_START_URL) == 1
    ran = subprocess.run(
        [sys.executable, "-c", code.replace(QUICK_START_URL, example_gateway)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stderr
    block = ran.stdout[ran.stdout.index("<memory>") :]
    assert "- I live in Lisbon and I keep bees." in block
    assert "x-memory-status=ok" in ran.stdout
    # The note is dated the day the test runs: its year's and its day's headings.
    expected = re.escape(shown).replace(r"\#\#\#\ 2026", r"\#\#\#\ \d{4}")
    expected = expected.replace(r"\#\#\#\#\ 4\ December", r"\#\#\#\#\ \d{1,2}\ [A-Z][a-z]+")
    assert re.fullmatch(expected, ran.stdout), ran.stdout

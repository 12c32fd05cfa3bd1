"""The ``extraction`` section of the config: its contract keys, defaults and checks."""

from __future__ import annotations

import pytest

from gateway.config import DEFAULT_BLOCKED_CATEGORIES, parse_config
from gateway.errors import ConfigError

MINIMAL = """
auth: {keys: [{key: k, tenant: acme}]}
models: [{name: echo, model: echo}, {name: small, model: openai/gpt-4o-mini, api_key: x}]
"""


def test_defaults() -> None:
    extraction = parse_config(MINIMAL, {}).extraction
    assert (extraction.enabled, extraction.model, extraction.mode) == (True, None, "facts")
    assert extraction.blocked_categories == DEFAULT_BLOCKED_CATEGORIES
    assert set(DEFAULT_BLOCKED_CATEGORIES) == {
        "email", "phone", "address", "government_id", "payment_card", "password", "credentials",
    }  # fmt: skip
    assert (extraction.duplicate_similarity, extraction.supersede_similarity) == (0.89, 0.80)


def test_the_contract_keys() -> None:
    config = parse_config(MINIMAL + "extraction: {enabled: true, model: small, mode: turns}", {})
    assert (config.extraction.model, config.extraction.mode) == ("small", "turns")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ("{model: gpt-5}", "extraction.model: 'gpt-5' is not a configured model name"),
        (
            "{categories: [fact, compliance2]}",
            "extraction.categories: 'compliance2' is not one of memory.categories",
        ),
        ("{mode: sometimes}", "extraction.mode: Input should be 'facts', 'turns' or 'off'"),
        ("{busy_share: 0}", "extraction.busy_share: Input should be greater than 0"),
        ("{max_backlog: 0}", "extraction.max_backlog: Input should be greater than or equal to 1"),
        (
            "{duplicate_similarity: 0.7}",
            "supersede_similarity must not exceed duplicate_similarity",
        ),
        ("{colour: red}", "extraction.colour: unknown key (expected one of: enabled, model,"),
        ("{concurency: 4}", "extraction.concurency: unknown key; did you mean 'concurrency'?"),
    ],
)
def test_bad_values_name_the_key(section: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(MINIMAL + f"extraction: {section}", {})
    assert message in info.value.message

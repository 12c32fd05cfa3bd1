"""Stage 4b: the tenant's own context from the config, as injectable items.

Compliance rules are one item each, so the budget can keep as many whole rules as fit; their
category's priority (100 by default) puts them before anything else.
"""

from __future__ import annotations

from collections.abc import Mapping

from gateway.config import TenantContext
from gateway.context.budget import Candidate


def tenant_items(context: TenantContext, priorities: Mapping[str, int]) -> tuple[Candidate, ...]:
    def item(text: str, category: str) -> Candidate:
        return Candidate(text, category, priorities.get(category, 0), relevance=1.0)

    items = [item(rule, "compliance") for rule in context.compliance]
    profile = [
        f"{label}: {value}"
        for label, value in (
            ("Organization", context.name),
            ("Industry", context.industry),
            ("Preferred tone", context.tone),
        )
        if value
    ]
    if profile:
        items.append(item("; ".join(profile), "organization"))
    if context.terminology:
        terms = "; ".join(f"{term} = {meaning}" for term, meaning in context.terminology.items())
        items.append(item(f"Terminology: {terms}", "organization"))
    return tuple(items)

"""One function per page: the data in, the page's HTML body out. Write forms appear only for
a session whose role may write; the server refuses a forged one anyway."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from itertools import groupby

from gateway.api.service import STATUSES, MemoryPage, Preview, TenantSummary, UserPage
from gateway.profile.model import CHOICES, FIELDS, Profile
from gateway.store.records import Memory
from gateway.ui.html import esc, form, link, table, url
from gateway.ui.session import Session


def writes(session: Session) -> bool:
    return session.principal.role != "read-only"


def login(error: str | None = None) -> str:
    shown = f'<p class="error">{esc(error)}</p>' if error else ""
    return (
        f"{shown}<p>Sign in with a gateway key. The key is checked once and is not kept in "
        "your browser: a session cookie is, until you sign out or close the browser.</p>"
        '<form method="post" action="/ui/login"><label>Gateway key '
        '<input type="password" name="key" autocomplete="off" required></label>'
        "<button>Sign in</button></form>"
    )


def tenants(found: list[TenantSummary]) -> str:
    rows = [
        [
            link(f"/ui/t/{t.tenant}", t.tenant),
            esc(t.users),
            "yes" if t.configured else "only in the store",
        ]
        for t in found
    ]
    return table(["tenant", "users", "configured"], rows)


def users(tenant: str, found: UserPage, query: str) -> str:
    base = f"/ui/t/{tenant}"
    search = (
        f'<form method="get" action="{esc(base)}"><label>User id contains '
        f'<input type="search" name="q" value="{esc(query)}"></label>'
        "<button>Search</button></form>"
    )
    rows = [
        [
            link(url(f"{base}/user", u=s.user_id), s.user_id),
            *(esc(s.memories.get(status, 0)) for status in STATUSES),
            _when(s.last_seen),
            _when(s.last_write),
            f"{s.profile_completeness:.0%} ({s.profile_fields}/{len(FIELDS)})",
        ]
        for s in found.users
    ]
    headers = ["user", *STATUSES, "last seen", "last write", "profile"]
    pages = ""
    if found.offset > 0:
        pages += link(url(base, q=query, offset=max(found.offset - found.limit, 0)), "previous")
    if found.next_offset is not None:
        pages += " " + link(url(base, q=query, offset=found.next_offset), "next")
    summary = f"<p>{esc(found.total)} users.</p>"
    return search + summary + table(headers, rows) + f"<p>{pages}</p>"


def user(
    session: Session,
    tenant: str,
    user_id: str,
    memories: MemoryPage,
    profile: Profile,
    categories: Mapping[str, int],
) -> str:
    base = f"/ui/t/{tenant}/user"
    shown = ""
    if memories.next_offset is not None:
        shown = (
            f"<p>The newest {esc(len(memories.memories))} of {esc(memories.total)} memories; "
            "export the user for all of them.</p>"
        )
    ids = {"u": user_id}
    parts = [
        "<section><h2>What would be injected</h2>",
        form(
            f"{base}/preview",
            session,
            "Show the block",
            hidden=ids,
            inner='<label>Message <textarea name="message" rows="2" required></textarea></label>',
        ),
        "</section>",
        "<section><h2>Memories</h2>",
        shown + _memories(session, base, user_id, memories.memories, categories),
        "</section><section><h2>Profile</h2>",
        _profile(session, base, user_id, profile),
        "</section><section><h2>Pending style observations</h2>",
        _candidates(profile),
        "</section><section><h2>Everything about this user</h2>",
        form(f"{base}/export", session, "Export (JSON)", hidden=ids),
    ]
    if writes(session):
        parts.append(
            form(f"{base}/erase", session, "Erase this user", hidden=ids, danger=True)
            + "<p>Erasing deletes every memory and the profile; it cannot be undone.</p>"
        )
    parts.append("</section>")
    return "".join(parts)


def _memories(
    session: Session,
    base: str,
    user_id: str,
    memories: list[Memory],
    categories: Mapping[str, int],
) -> str:
    if not memories:
        return "<p>No memories.</p>"
    out = []
    order = {status: index for index, status in enumerate(STATUSES)}
    ranked = sorted(memories, key=lambda m: (order.get(m.status, 99), m.category, m.content))
    for status, of_status in groupby(ranked, key=lambda m: m.status):
        out.append(f"<h3>{esc(status)}</h3>")
        for category, of_category in groupby(of_status, key=lambda m: m.category):
            rows = [_memory_row(session, base, user_id, m, categories) for m in of_category]
            out.append(f"<h4>{esc(category)}</h4>")
            out.append(table(["memory", "evidence", "last seen", ""], rows))
    return "".join(out)


def _memory_row(
    session: Session, base: str, user_id: str, memory: Memory, categories: Mapping[str, int]
) -> list[str]:
    seen = _when(memory.seen_at)
    if not writes(session):
        return [esc(memory.content), esc(memory.evidence), seen, f"<code>{esc(memory.id)}</code>"]
    ids = {"u": user_id, "memory_id": memory.id}
    options = "".join(
        f'<option value="{esc(c)}"{" selected" if c == memory.category else ""}>{esc(c)}</option>'
        for c in categories
    )
    edit = form(
        f"{base}/memory",
        session,
        "Save",
        hidden={**ids, "op": "save"},
        inner=(
            f'<textarea name="content" rows="2" required>{esc(memory.content)}</textarea>'
            f'<select name="category">{options}</select>'
        ),
    )
    delete = form(f"{base}/memory", session, "Delete", hidden={**ids, "op": "delete"}, danger=True)
    return [edit, esc(memory.evidence), seen, delete]


def _profile(session: Session, base: str, user_id: str, profile: Profile) -> str:
    rows = []
    for name in FIELDS:
        state = profile.fields.get(name)
        value = "" if state is None else _value(state.value)
        shown = [
            esc(name),
            esc(value) if state else "<em>unset</em>",
            esc(state.source) if state else "",
            esc(state.evidence) if state else "",
        ]
        if writes(session):
            ids = {"u": user_id, "field": name}
            hint = f' placeholder="{esc(" | ".join(CHOICES[name]))}"' if name in CHOICES else ""
            lock = form(
                f"{base}/profile",
                session,
                "Lock",
                hidden={**ids, "op": "lock"},
                inner=f'<input name="value" value="{esc(value)}"{hint}>',
            )
            clear = form(f"{base}/profile", session, "Clear", hidden={**ids, "op": "clear"})
            shown += [lock, clear if state else ""]
        rows.append(shown)
    headers = ["field", "value", "source", "evidence"]
    if writes(session):
        headers += ["lock (inference never changes a locked field)", ""]
    summary = ""
    if profile.summary is not None:
        summary = f"<h3>Summary</h3><p>{esc(profile.summary.text)}</p>"
    return table(headers, rows) + summary


def _candidates(profile: Profile) -> str:
    if not profile.candidates:
        return "<p>None: no field has a value waiting for more evidence.</p>"
    rows = [
        [esc(name), esc(c.value), esc(len(c.observations))]
        for name, c in sorted(profile.candidates.items())
    ]
    return table(["field", "proposed value", "observations so far"], rows)


def preview(preview: Preview, user_link: str) -> str:
    line = (
        f'<p class="budget">{esc(preview.tokens)} of {esc(preview.budget)} tokens used '
        f"(model {esc(preview.model)}, ranking {esc(preview.mode)}, "
        f"outcome {esc(preview.outcome)}). Nothing was learned or recorded.</p>"
    )
    block = (
        f"<pre>{esc(preview.block)}</pre>" if preview.block else "<p>Nothing would be injected.</p>"
    )
    rows = [
        [
            "yes" if item.injected else "no (budget)",
            esc(item.category),
            esc(item.content),
            esc(item.tokens),
            esc(item.priority),
            f"{item.score:.3f}",
            _score(item.dense),
            _score(item.lexical),
            _score(item.recency),
            "" if item.evidence is None else esc(item.evidence),
        ]
        for item in preview.items
    ]
    headers = [
        "injected", "category", "text", "tokens", "priority", "score",
        "dense", "lexical", "recency", "evidence",
    ]  # fmt: skip
    back = f"<p>{link(user_link, 'Back to the user')}</p>"
    return (
        line
        + "<h2>The block</h2>"
        + block
        + "<h2>Every candidate</h2>"
        + table(headers, rows)
        + back
    )


def activity(queue: Mapping[str, float], report: str | None) -> str:
    rows = [[esc(name), esc(f"{value:g}")] for name, value in queue.items()]
    shown = report if report is not None else "No exchanges recorded yet."
    return (
        "<h2>Extraction queue (this process)</h2>"
        + table(["", "count"], rows)
        + "<h2>Personalization report, last 7 days, by cohort</h2>"
        + f"<pre>{esc(shown)}</pre>"
    )


def problem(message: str) -> str:
    return f'<p class="error">{esc(message)}</p>'


def _value(value: str | tuple[str, ...]) -> str:
    return ", ".join(value) if isinstance(value, tuple) else value


def _score(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def _when(moment: datetime | None) -> str:
    return "" if moment is None else esc(moment.strftime("%Y-%m-%d %H:%M UTC"))

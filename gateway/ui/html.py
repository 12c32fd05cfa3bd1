"""The inspector's HTML: small string templates in which every value passes through ``esc``.

Memory text, user ids, profile values and key names are user content; nothing is ever put into
a page unescaped, and no page carries script or inline style (the CSP forbids both).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from urllib.parse import urlencode

from gateway.ui.session import Session

STYLESHEET = "/ui/static/inspector.css"


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def url(path: str, **query: str | int) -> str:
    """``path`` with ``query``: only ids and page numbers, never memory text."""
    return f"{path}?{urlencode(query)}" if query else path


def link(href: str, text: object) -> str:
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def form(
    action: str,
    session: Session,
    button: str,
    *,
    hidden: Mapping[str, str] | None = None,
    inner: str = "",
    danger: bool = False,
) -> str:
    """A POST form carrying the session's CSRF token."""
    fields = {"csrf": session.csrf, **(hidden or {})}
    inputs = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">' for k, v in fields.items()
    )
    kind = ' class="danger"' if danger else ""
    return (
        f'<form method="post" action="{esc(action)}">{inputs}{inner}'
        f"<button{kind}>{esc(button)}</button></form>"
    )


def table(headers: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    """``rows`` are already HTML (escape their values with ``esc``)."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def page(
    title: str, body: str, session: Session | None, nav: Iterable[tuple[str, str]] = ()
) -> str:
    links = " ".join(link(href, text) for href, text in nav)
    who = ""
    if session is not None:
        principal = session.principal
        signed = f"{esc(principal.key_name)} ({esc(principal.role)})"
        who = f'<span class="who">{signed}</span>' + form("/ui/logout", session, "Sign out")
    return (
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} · memory inspector</title>"
        f'<link rel="stylesheet" href="{STYLESHEET}"></head><body>'
        f"<header><strong>memory inspector</strong> <nav>{links}</nav> {who}</header>"
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )

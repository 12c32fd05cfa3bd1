"""A browser-like client for the inspector: signs in with a key, keeps the session cookie, sends
the Origin a browser would, and finds the CSRF token and links in the pages it gets."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx

from gateway.config import GatewayConfig
from tests.api.roles_support import roles_config

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def ui_config(state: Path, **sections: Any) -> GatewayConfig:
    return roles_config(state, ui={"enabled": True}, **sections)


class Inspector:
    def __init__(self, url: str) -> None:
        self.url = url
        self.http = httpx.Client(base_url=url, timeout=60, headers={"Origin": url})

    def sign_in(self, key: str) -> httpx.Response:
        return self.http.post("/ui/login", data={"key": key})

    def get(self, path: str, **params: str) -> httpx.Response:
        return self.http.get(path, params=params)

    def csrf(self) -> str:
        """The token of the session, as the pages carry it in every form."""
        found = CSRF.search(self.http.get("/ui", follow_redirects=True).text)
        assert found is not None, "no form with a CSRF token on the signed-in pages"
        return found.group(1)

    def post(self, path: str, data: dict[str, str], csrf: str | None = "") -> httpx.Response:
        """A form POST; ``csrf`` "" takes the session's own token, None sends none."""
        if csrf == "":
            csrf = self.csrf()
        form = dict(data) if csrf is None else {**data, "csrf": csrf}
        return self.http.post(path, data=form)

    def close(self) -> None:
        self.http.close()


class Links(HTMLParser):
    """Every link, form action and resource a page points at."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        #: What a GET may follow: links, not form actions.
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "action", "src") and value:
                self.found.append(value)
                if name == "href" and tag == "a":
                    self.hrefs.append(value)


def links(page: str) -> Links:
    parser = Links()
    parser.feed(page)
    return parser

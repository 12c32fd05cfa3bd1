"""The inspector's requests: sign-in, the session and CSRF checks, the role check, then a page.

Every action goes through ``MemoryService`` with a ``Caller`` whose ``via`` is ``ui``, so the
role check and the audit record are the API's own. Every answer carries the same security
headers; an error is an HTML page with the error's status, never a 500 for bad input.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import orjson
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from gateway.api.access import Caller, permit
from gateway.api.fields import memory_changes, profile_value
from gateway.api.report import build_report, read_totals, render
from gateway.api.service import MemoryService
from gateway.config import GatewayConfig
from gateway.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
)
from gateway.observability import Metrics
from gateway.proxy.auth import Authenticator
from gateway.proxy.request import read_body
from gateway.ui import pages
from gateway.ui.html import page, url
from gateway.ui.session import COOKIE, Session, csrf_ok, issue, verify

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
}
_TENANT_PATH = re.compile(r"^/t/(?P<tenant>[A-Za-z0-9][\w.-]{0,63})(?P<rest>/[\w/]*)?$")
_REPORT_WINDOW_S = 7 * 86_400.0
# One page holds this many memories, each with its own edit form; the export holds them all.
_MAX_MEMORIES_SHOWN = 1000
_STYLESHEET = files("gateway.ui").joinpath("static/inspector.css").read_bytes()

Handler = Callable[[Session, Caller, dict[str, str]], Awaitable[Response]]


class Forbidden(PermissionDenied):
    """A POST that fails the CSRF or origin check."""


class Inspector:
    def __init__(
        self,
        config: GatewayConfig,
        authenticator: Authenticator,
        service: MemoryService,
        metrics: Metrics,
    ) -> None:
        self._authenticator = authenticator
        self._service = service
        self._metrics = metrics
        self._ttl_s = config.ui.session_ttl_s
        self._max_body = config.server.max_body_bytes
        self._state_dir: Path = config.memory.store.state_dir
        self._gets: dict[str, Handler] = {
            "": self._users,
            "/user": self._user,
            "/activity": self._activity,
        }
        self._posts: dict[str, Handler] = {
            "/user/memory": self._memory,
            "/user/erase": self._erase,
            "/user/export": self._export,
            "/user/profile": self._profile,
            "/user/preview": self._preview,
        }

    async def __call__(self, request: Request) -> Response:
        try:
            response = await self._route(request)
        except GatewayError as exc:
            session = self._session(request)
            title = "Not allowed" if exc.status_code == 403 else "Something is wrong"
            response = _html(page(title, pages.problem(exc.message), session), exc.status_code)
        response.headers.update(HEADERS)
        return response

    async def _route(self, request: Request) -> Response:
        path = request.url.path.removeprefix("/ui").rstrip("/")
        method = request.method
        if path == "/static/inspector.css" and method == "GET":
            return Response(_STYLESHEET, media_type="text/css")
        if path == "/login":
            return await (self._sign_in(request) if method == "POST" else self._login_page(request))
        session = self._session(request)
        if session is None:
            return RedirectResponse("/ui/login", 303)
        if method == "POST":
            form = await self._form(request, session)
            if path == "/logout":
                return _signed_out()
        if path == "" and method == "GET":
            return self._home(session)
        if path == "/tenants" and method == "GET":
            return await self._tenants(session)
        match = _TENANT_PATH.match(path)
        handlers = self._posts if method == "POST" else self._gets
        handler = handlers.get(match.group("rest") or "") if match else None
        if match is None or handler is None:
            raise NotFound(f"No inspector page at {request.url.path} for {method}.")
        caller = self._caller(session, match.group("tenant"))
        if method == "GET":
            form = {k: v for k, v in request.query_params.items()}
        return await handler(session, caller, form)

    # -- signing in -----------------------------------------------------------------------

    def _session(self, request: Request) -> Session | None:
        cookie = request.cookies.get(COOKIE)
        return verify(self._authenticator, cookie, time.time(), self._ttl_s)

    async def _login_page(self, request: Request) -> Response:
        if request.method != "GET":
            raise NotFound(f"No inspector page at {request.url.path} for {request.method}.")
        return _html(page("Sign in", pages.login(), None))

    async def _sign_in(self, request: Request) -> Response:
        _same_origin(request)
        form = _parse(await read_body(request, self._max_body))
        try:
            principal, secret = self._authenticator.identify(form.get("key", ""))
        except AuthenticationFailed:
            body = pages.login("That key is not known to this gateway.")
            return _html(page("Sign in", body, None), 401)
        _, cookie = issue(principal, secret, time.time())
        response = RedirectResponse("/ui", 303)
        response.set_cookie(
            COOKIE,
            cookie,
            path="/ui",
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    async def _form(self, request: Request, session: Session) -> dict[str, str]:
        _same_origin(request)
        form = _parse(await read_body(request, self._max_body))
        if not csrf_ok(session, form.get("csrf")):
            raise Forbidden("The form's CSRF token is missing or wrong: reload the page.")
        return form

    def _caller(self, session: Session, tenant: str) -> Caller:
        """The session's caller acting on ``tenant``: its own tenant unless it is an admin."""
        principal = session.principal
        if principal.role != "admin" and principal.tenant != tenant:
            raise PermissionDenied(f"A {principal.role} key sees its own tenant only.")
        caller = Caller(principal.key_name, principal.role, tenant, "ui")
        permit(caller, "read")
        return caller

    # -- pages ----------------------------------------------------------------------------

    def _home(self, session: Session) -> Response:
        principal = session.principal
        if principal.role == "admin":
            return RedirectResponse("/ui/tenants", 303)
        return RedirectResponse(f"/ui/t/{principal.tenant}", 303)

    async def _tenants(self, session: Session) -> Response:
        principal = session.principal
        caller = Caller(principal.key_name, principal.role, None, "ui")
        found = await self._service.tenants(caller)
        return _html(page("Tenants", pages.tenants(found), session))

    async def _users(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        query = form.get("q", "")
        offset = _offset(form.get("offset", "0"))
        found = await self._service.users(caller, query=query or None, limit=50, offset=offset)
        body = pages.users(_tenant(caller), found, query)
        return self._page(session, caller, f"Users of {caller.tenant}", body)

    async def _user(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        user_id = _user_id(form)
        listed = await self._service.list_memories(
            caller, user_id, status=None, limit=_MAX_MEMORIES_SHOWN
        )
        profile = await self._service.profile(caller, user_id)
        categories = self._service.categories
        body = pages.user(session, _tenant(caller), user_id, listed, profile, categories)
        return self._page(session, caller, f"User {user_id}", body)

    async def _activity(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        try:
            # A SQLite read: kept off the event loop.
            totals = await run_in_threadpool(
                read_totals, self._state_dir, _REPORT_WINDOW_S, caller.tenant
            )
            report: str | None = render(build_report(totals, _REPORT_WINDOW_S, caller.tenant))
        except FileNotFoundError:
            report = None
        body = pages.activity(self._metrics.extraction_snapshot(), report)
        return self._page(session, caller, f"Activity of {caller.tenant}", body)

    async def _preview(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        user_id = _user_id(form)
        shown = await self._service.preview(caller, user_id, form.get("message", ""))
        back = url(f"/ui/t/{caller.tenant}/user", u=user_id)
        body = pages.preview(shown, back)
        return self._page(session, caller, f"What would be injected for {user_id}", body)

    def _page(self, session: Session, caller: Caller, title: str, body: str) -> Response:
        base = f"/ui/t/{caller.tenant}"
        nav = [(base, "users"), (f"{base}/activity", "activity")]
        if session.principal.role == "admin":
            nav.insert(0, ("/ui/tenants", "tenants"))
        return _html(page(title, body, session, nav))

    # -- writes (the service checks the role again, and records each in the audit trail) -----

    async def _memory(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        user_id = _user_id(form)
        memory_id = _required(form, "memory_id")
        op = form.get("op")
        if op == "delete":
            await self._service.delete(caller, user_id, memory_id)
        elif op == "save":
            body = {"content": form.get("content", ""), "category": form.get("category", "")}
            changes = memory_changes(body, self._service.categories)
            await self._service.patch(caller, user_id, memory_id, changes)
        else:
            raise InvalidRequest("Invalid 'op': expected save or delete.", param="op")
        return _back_to(caller, user_id)

    async def _erase(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        await self._service.erase(caller, _user_id(form))
        return RedirectResponse(f"/ui/t/{caller.tenant}", 303)

    async def _export(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        user_id = _user_id(form)
        exported = await self._service.export(caller, user_id)
        # The file name is fixed: the user id goes in no header or URL.
        disposition = 'attachment; filename="user-export.json"'
        headers = {"Content-Disposition": disposition}
        return Response(orjson.dumps(exported), media_type="application/json", headers=headers)

    async def _profile(self, session: Session, caller: Caller, form: dict[str, str]) -> Response:
        user_id = _user_id(form)
        name = _required(form, "field")
        op = form.get("op")
        if op == "clear":
            await self._service.set_profile(caller, user_id, {name: None})
        elif op == "lock":
            text = form.get("value", "").strip()
            value: str | list[str] = text
            if name == "stack":
                value = [item.strip() for item in text.split(",") if item.strip()]
            await self._service.set_profile(caller, user_id, {name: profile_value(name, value)})
        else:
            raise InvalidRequest("Invalid 'op': expected lock or clear.", param="op")
        return _back_to(caller, user_id)


def _html(text: str, status: int = 200) -> Response:
    return HTMLResponse(text, status)


def _signed_out() -> Response:
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(COOKIE, path="/ui", httponly=True, samesite="strict")
    return response


def _back_to(caller: Caller, user_id: str) -> Response:
    return RedirectResponse(url(f"/ui/t/{caller.tenant}/user", u=user_id), 303)


def _tenant(caller: Caller) -> str:
    assert caller.tenant is not None
    return caller.tenant


def _same_origin(request: Request) -> None:
    """Refuse a POST another site's page sent: its Origin (or, when the browser sends
    ``null`` under ``Referrer-Policy: no-referrer``, its ``Sec-Fetch-Site``) must be ours."""
    host = request.headers.get("host", "")
    origin = request.headers.get("origin")
    if origin and origin != "null":
        if urlsplit(origin).netloc == host:
            return
    elif request.headers.get("sec-fetch-site") == "same-origin" or (
        (referer := request.headers.get("referer")) and urlsplit(referer).netloc == host
    ):
        return
    raise Forbidden("This form was not sent from this gateway's own pages.")


def _parse(body: bytes) -> dict[str, str]:
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest("The form is not valid URL-encoded UTF-8.") from None
    return {name: values[0] for name, values in parsed.items()}


def _required(form: Mapping[str, str], name: str) -> str:
    value = form.get(name, "")
    if not value:
        raise InvalidRequest(f"Missing '{name}'.", param=name)
    return value


def _user_id(form: Mapping[str, str]) -> str:
    return _required(form, "u")


def _offset(text: str) -> int:
    if not text.isdigit():
        raise InvalidRequest("Invalid 'offset': expected a whole number.", param="offset")
    return int(text)


__all__ = ["HEADERS", "Inspector"]

"""The inspector over real HTTP: off by default, sign-in and its cookie, the security headers on
every page, CSRF and origin checks, every role on every page and form, escaping, and no memory
text in any URL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.ui import HEADERS
from tests.api.roles_support import ADMIN_KEY, READ_ONLY_KEY, client
from tests.support.gateway import KEY, OTHER_KEY, RunningGateway, gateway_in_thread
from tests.ui.support import Inspector, links, ui_config

SECRET = "Ana's locker code is 4471"
XSS = "<script>alert('owned')</script> likes tea"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_in_thread(ui_config(tmp_path_factory.mktemp("ui"))) as running:
        yield running


@pytest.fixture
def seeded(gateway: RunningGateway, request: pytest.FixtureRequest) -> tuple[str, str]:
    """A fresh acme user with one memory; returns (user id, memory id)."""
    user = f"ui-{request.node.name[:40]}".replace("[", "-").replace("]", "")
    with client(gateway.url, "read-write") as api:
        reply = api.post(f"/v1/users/{user}/memories", json={"content": SECRET})
        assert reply.status_code == 201, reply.text
        return user, reply.json()["id"]


def save_form(user: str, memory_id: str, content: str, category: str = "fact") -> dict[str, str]:
    """The edit form of one memory, as the user page has it."""
    return {
        "u": user,
        "memory_id": memory_id,
        "op": "save",
        "content": content,
        "category": category,
    }


Opener = Callable[[str | None], Inspector]


@pytest.fixture
def open_inspector(gateway: RunningGateway) -> Iterator[Opener]:
    """Opens inspector clients, signed in with a key (or not, for None); closes them after."""
    opened: list[Inspector] = []

    def open_one(key: str | None) -> Inspector:
        inspector = Inspector(gateway.url)
        opened.append(inspector)
        if key is not None:
            assert inspector.sign_in(key).status_code == 303
        return inspector

    yield open_one
    for inspector in opened:
        inspector.close()


def test_off_by_default_is_a_404_in_the_openai_shape(memory_gateway: RunningGateway) -> None:
    for path in ("/ui", "/ui/login", "/ui/t/acme"):
        reply = httpx.get(memory_gateway.url + path)
        assert reply.status_code == 404
        assert "ui.enabled" in reply.json()["error"]["message"]


def test_a_wrong_key_does_not_sign_in(open_inspector: Opener, gateway: RunningGateway) -> None:
    inspector = open_inspector(None)
    reply = inspector.sign_in("sk-not-a-key")
    assert reply.status_code == 401
    assert "not known" in reply.text
    assert "set-cookie" not in reply.headers
    assert inspector.get("/ui").headers["location"] == "/ui/login"


def test_the_session_cookie_holds_no_key_and_ends_with_the_browser(
    open_inspector: Opener,
    gateway: RunningGateway,
) -> None:
    reply = open_inspector(None).sign_in(KEY)
    assert reply.status_code == 303
    cookie = reply.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")}
    assert {"httponly", "path"} <= flags
    assert "samesite=strict" in cookie.lower()
    assert "expires" not in flags and "max-age" not in flags
    assert "secure" not in flags  # plain http on loopback; https gets Secure
    assert KEY not in cookie


def test_behind_an_https_proxy_the_cookie_is_secure(
    open_inspector: Opener, gateway: RunningGateway
) -> None:
    inspector = open_inspector(None)
    reply = inspector.http.post(
        "/ui/login", data={"key": KEY}, headers={"X-Forwarded-Proto": "https"}
    )
    assert reply.status_code == 303
    assert "secure" in reply.headers["set-cookie"].lower()


def test_a_tenant_key_lands_on_its_tenant_and_an_admin_on_the_tenants(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, _ = seeded
    tenant = open_inspector(KEY)
    page = tenant.http.get("/ui", follow_redirects=True)
    assert page.url.path == "/ui/t/acme"
    assert user in page.text
    admin = open_inspector(ADMIN_KEY)
    page = admin.http.get("/ui", follow_redirects=True)
    assert page.url.path == "/ui/tenants"
    assert ">acme<" in page.text and ">globex<" in page.text


def test_signing_out_ends_the_session(open_inspector: Opener, gateway: RunningGateway) -> None:
    inspector = open_inspector(KEY)
    reply = inspector.post("/ui/logout", {})
    assert reply.status_code == 303
    assert inspector.get("/ui/t/acme").headers["location"] == "/ui/login"


def test_a_forged_or_stale_cookie_is_no_session(
    open_inspector: Opener, gateway: RunningGateway
) -> None:
    inspector = open_inspector(KEY)
    value = inspector.http.cookies["gateway_ui"]
    name, issued, nonce, mac = value.split(".")
    for forged in (
        f"{name}.{issued}.{nonce}.{'0' * len(mac)}",
        f"{name}.{int(issued) - 9 * 3600}.{nonce}.{mac}",  # older than session_ttl_s
        "garbage",
    ):
        other = open_inspector(None)
        other.http.cookies.set("gateway_ui", forged, path="/ui")
        assert other.get("/ui/t/acme").headers["location"] == "/ui/login"


def test_every_page_carries_the_security_headers(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, _ = seeded
    inspector = open_inspector(ADMIN_KEY)
    answers = [
        inspector.get("/ui/login"),
        inspector.get("/ui/tenants"),
        inspector.get("/ui/t/acme"),
        inspector.get("/ui/t/acme/user", u=user),
        inspector.get("/ui/t/acme/activity"),
        inspector.get("/ui/static/inspector.css"),
        inspector.get("/ui/no-such-page"),
        inspector.post("/ui/t/acme/user/preview", {"u": user, "message": "locker?"}),
        inspector.post("/ui/t/acme/user/preview", {"u": user}, csrf=None),
    ]
    for answer in answers:
        for name, value in HEADERS.items():
            assert answer.headers.get(name) == value, (answer.url, name)
        assert "script-src" not in answer.headers["content-security-policy"]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 200, 404, 200, 403]


def test_a_post_without_the_token_or_from_another_origin_is_refused(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, memory_id = seeded
    inspector = open_inspector(KEY)
    edit = save_form(user, memory_id, "changed", "general")
    assert inspector.post("/ui/t/acme/user/memory", edit, csrf=None).status_code == 403
    assert inspector.post("/ui/t/acme/user/memory", edit, csrf="0" * 64).status_code == 403
    token = inspector.csrf()
    foreign = inspector.http.post(
        "/ui/t/acme/user/memory",
        data={**edit, "csrf": token},
        headers={"Origin": "https://evil.example"},
    )
    assert foreign.status_code == 403
    # Another session's token is no good either.
    other = open_inspector(KEY)
    assert inspector.post("/ui/t/acme/user/memory", edit, csrf=other.csrf()).status_code == 403
    with client(gateway.url, "read-write") as api:
        contents = [m["content"] for m in api.get(f"/v1/users/{user}/memories").json()["data"]]
    assert contents == [SECRET]


# (role, key): what each may do on acme's pages. "other" is globex's key on acme's pages.
ROLES = {"admin": ADMIN_KEY, "read-write": KEY, "read-only": READ_ONLY_KEY, "other": OTHER_KEY}
READS = ["users", "user", "activity", "preview", "export"]
WRITES = ["save", "delete", "lock", "clear", "erase"]


def _act(inspector: Inspector, action: str, user: str, memory_id: str) -> httpx.Response:
    base = "/ui/t/acme"
    memory = {"u": user, "memory_id": memory_id}
    return {
        "users": lambda: inspector.get(base),
        "user": lambda: inspector.get(f"{base}/user", u=user),
        "activity": lambda: inspector.get(f"{base}/activity"),
        "tenants": lambda: inspector.get("/ui/tenants"),
        "preview": lambda: inspector.post(f"{base}/user/preview", {"u": user, "message": "hi"}),
        "export": lambda: inspector.post(f"{base}/user/export", {"u": user}),
        "save": lambda: inspector.post(f"{base}/user/memory", save_form(user, memory_id, "edited")),
        "delete": lambda: inspector.post(f"{base}/user/memory", {**memory, "op": "delete"}),
        "lock": lambda: inspector.post(
            f"{base}/user/profile", {"u": user, "field": "tone", "op": "lock", "value": "formal"}
        ),
        "clear": lambda: inspector.post(
            f"{base}/user/profile", {"u": user, "field": "tone", "op": "clear"}
        ),
        "erase": lambda: inspector.post(f"{base}/user/erase", {"u": user}),
    }[action]()


def _allowed(role: str, action: str) -> bool:
    if role == "other":
        return False
    if action == "tenants":
        return role == "admin"
    return action in READS or role != "read-only"


@pytest.mark.parametrize("action", [*READS, "tenants", *WRITES])
@pytest.mark.parametrize("role", list(ROLES))
def test_role_matrix(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
    role: str,
    action: str,
) -> None:
    user, memory_id = seeded
    inspector = open_inspector(ROLES[role])
    reply = _act(inspector, action, user, memory_id)
    if _allowed(role, action):
        assert reply.status_code in (200, 303), reply.text
    else:
        assert reply.status_code == 403, reply.text
        assert "Not allowed" in reply.text
    with client(gateway.url, "read-write") as api:
        contents = [m["content"] for m in api.get(f"/v1/users/{user}/memories").json()["data"]]
    changed = _allowed(role, action) and action in ("save", "delete", "erase")
    assert (contents != [SECRET]) == changed


def test_read_only_pages_have_no_write_forms(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, _ = seeded
    page = open_inspector(READ_ONLY_KEY).get("/ui/t/acme/user", u=user).text
    assert SECRET in page.replace("&#x27;", "'")
    for action in ("/user/memory", "/user/erase", "/user/profile"):
        assert action not in page
    writer = open_inspector(KEY).get("/ui/t/acme/user", u=user).text
    for action in ("/user/memory", "/user/erase", "/user/profile"):
        assert action in writer


def test_memory_text_is_escaped(open_inspector: Opener, gateway: RunningGateway) -> None:
    with client(gateway.url, "read-write") as api:
        assert api.post("/v1/users/xss/memories", json={"content": XSS}).status_code == 201
    inspector = open_inspector(KEY)
    pages = [
        inspector.get("/ui/t/acme/user", u="xss").text,
        inspector.post("/ui/t/acme/user/preview", {"u": "xss", "message": "tea"}).text,
    ]
    for page in pages:
        assert "<script" not in page
        assert "&lt;script&gt;alert(&#x27;owned&#x27;)&lt;/script&gt;" in page


def test_no_memory_text_in_any_url_the_pages_point_at(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, memory_id = seeded
    inspector = open_inspector(ADMIN_KEY)
    seen: set[str] = set()
    todo = ["/ui"]
    while todo:
        path = todo.pop()
        if path in seen or path.startswith("/ui/static"):
            continue
        seen.add(path)
        reply = inspector.http.get(path, follow_redirects=True)
        assert reply.status_code == 200, path
        found = links(reply.text)
        for target in found.found:
            assert urlsplit(target).netloc == "", target  # nothing leaves the gateway
            assert "locker" not in target.lower() and "4471" not in target
        todo += [target for target in found.hrefs if target.startswith("/ui")]
    assert any("user?u=" in path for path in seen)  # the crawl reached the user pages
    # A write's redirect names the user and nothing else.
    edit = save_form(user, memory_id, SECRET + "!", "fact")
    location = inspector.post("/ui/t/acme/user/memory", edit).headers["location"]
    assert location == f"/ui/t/acme/user?u={user}"


def test_ui_writes_are_audited_as_via_ui(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, memory_id = seeded
    inspector = open_inspector(KEY)
    edit = save_form(user, memory_id, "Ana moved", "fact")
    assert inspector.post("/ui/t/acme/user/memory", edit).status_code == 303
    with client(gateway.url, "admin") as admin:
        records = admin.get("/v1/audit", params={"user_id": user, "action": "memory.patch"}).json()
    [record] = records["data"]
    assert record["via"] == "ui" and record["memory_id"] == memory_id
    assert "Ana" not in str(record) and user not in str(record)


def test_bad_input_is_a_clear_error_page_not_a_500(
    open_inspector: Opener,
    gateway: RunningGateway,
    seeded: tuple[str, str],
) -> None:
    user, memory_id = seeded
    inspector = open_inspector(KEY)
    empty = save_form(user, memory_id, "")
    reply = inspector.post("/ui/t/acme/user/memory", empty)
    assert reply.status_code == 400 and "content" in reply.text
    reply = inspector.post(
        "/ui/t/acme/user/profile", {"u": user, "field": "tone", "op": "lock", "value": "shouty"}
    )
    assert reply.status_code == 400 and "tone" in reply.text
    assert inspector.get("/ui/t/acme", offset="-1").status_code == 400
    assert inspector.get("/ui/t/acme/user").status_code == 400

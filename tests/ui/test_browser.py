"""The inspector in a real browser: Debian's headless Chromium driven by Playwright, against a
real gateway on loopback whose model is the echo model (it answers with what it received, so a
chat shows the block that was injected). Each page's screenshot goes to test-artifacts/ui/."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.api.roles_support import ADMIN_KEY, READ_ONLY_KEY, client
from tests.support.gateway import KEY, RunningGateway, gateway_in_thread
from tests.support.memory import REPO_ROOT, echo_chat, memory_block, sdk
from tests.ui.support import ui_config

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = REPO_ROOT / "test-artifacts" / "ui"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium; Playwright's own browsers are never downloaded. Without it the tests
    skip locally and fail in CI."""
    if not CHROMIUM.is_file():
        reason = f"{CHROMIUM} is missing (apt-get install chromium; scripts/test does)"
        if os.environ.get("CI"):
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # launch() gives each run a fresh, temporary user-data-dir.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=ARGS
        )
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningGateway]:
    with gateway_in_thread(ui_config(tmp_path_factory.mktemp("ui-browser"))) as running:
        yield running


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in its own browser context: its own cookies, nothing shared between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    yield page
    context.close()


def sign_in(page: Page, gateway: RunningGateway, key: str) -> None:
    page.goto(f"{gateway.url}/ui")
    page.get_by_label("Gateway key").fill(key)
    follow(page, page.get_by_role("button", name="Sign in"))


def follow(page: Page, target: Locator) -> None:
    """Click a link or a form's button and wait for the page it leads to."""
    with page.expect_navigation():
        target.click()


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"inspector-{name}.png"), full_page=True)


def add(gateway: RunningGateway, user: str, content: str, category: str = "preference") -> str:
    with client(gateway.url, "read-write") as api:
        reply = api.post(
            f"/v1/users/{user}/memories", json={"content": content, "category": category}
        )
        assert reply.status_code == 201, reply.text
        return str(reply.json()["id"])


def block_for(gateway: RunningGateway, user: str, message: str) -> str:
    with sdk(gateway) as chat:
        received, _ = echo_chat(chat, [{"role": "user", "content": message}], user_id=user)
    return memory_block(received)


def test_a_tenant_key_sees_only_its_tenant(page: Page, gateway: RunningGateway) -> None:
    add(gateway, "ana", "Ana prefers short answers")
    with client(gateway.url, "admin", tenant="globex") as admin:
        reply = admin.post("/v1/users/gus/memories", json={"content": "Gus is at globex"})
        assert reply.status_code == 201
    page.goto(f"{gateway.url}/ui")
    screenshot(page, "login")
    sign_in(page, gateway, KEY)
    assert page.url.endswith("/ui/t/acme")
    assert page.get_by_role("link", name="ana", exact=True).count() == 1
    assert "gus" not in page.content()
    assert page.get_by_role("link", name="tenants").count() == 0
    screenshot(page, "users")
    answer = page.goto(f"{gateway.url}/ui/t/globex")
    assert answer is not None and answer.status == 403
    assert "Not allowed" in page.content()


def test_editing_a_memory_changes_the_next_chats_block(page: Page, gateway: RunningGateway) -> None:
    add(gateway, "bea", "Bea drinks green tea every morning")
    add(gateway, "bea", "Bea works as a nurse", "fact")
    assert "green tea" in block_for(gateway, "bea", "What should I drink?")
    sign_in(page, gateway, KEY)
    follow(page, page.get_by_role("link", name="bea"))
    screenshot(page, "user")
    edit = page.locator("form", has=page.locator("textarea", has_text="green tea"))
    edit.locator("textarea").fill("Bea drinks black coffee every morning")
    follow(page, edit.get_by_role("button", name="Save"))
    assert "black coffee" in page.content()
    block = block_for(gateway, "bea", "What should I drink?")
    assert "black coffee" in block and "green tea" not in block
    # What would be injected: the very block that chat got, with the scores behind it.
    page.get_by_label("Message").fill("What should I drink?")
    follow(page, page.get_by_role("button", name="Show the block"))
    assert page.locator("pre").inner_text().strip() == block.strip()
    assert re.search(r"\d+ of \d+ tokens used", page.content())
    assert page.url.endswith("/ui/t/acme/user/preview")  # the message went in the body
    screenshot(page, "preview")


def test_erasing_a_user(page: Page, gateway: RunningGateway) -> None:
    add(gateway, "cid", "Cid collects stamps")
    sign_in(page, gateway, KEY)
    follow(page, page.get_by_role("link", name="cid"))
    follow(page, page.get_by_role("button", name="Erase this user"))
    assert page.url.endswith("/ui/t/acme")
    with client(gateway.url, "read-write") as api:
        assert api.get("/v1/users/cid/memories").json()["data"] == []


def test_a_read_only_key_cannot_change_anything(page: Page, gateway: RunningGateway) -> None:
    memory_id = add(gateway, "dee", "Dee lives in Lisbon", "fact")
    sign_in(page, gateway, READ_ONLY_KEY)
    follow(page, page.get_by_role("link", name="dee"))
    assert "Dee lives in Lisbon" in page.content()
    for button in ("Save", "Delete", "Erase this user", "Lock", "Clear"):
        assert page.get_by_role("button", name=button, exact=True).count() == 0
    # A forged write with the session's own token is refused by the server.
    token = page.locator('input[name="csrf"]').first.get_attribute("value")
    assert token
    forged = page.request.post(
        f"{gateway.url}/ui/t/acme/user/memory",
        form={"csrf": token, "u": "dee", "memory_id": memory_id, "op": "delete"},
        headers={"Origin": gateway.url},
    )
    assert forged.status == 403
    with client(gateway.url, "read-write") as api:
        contents = [m["content"] for m in api.get("/v1/users/dee/memories").json()["data"]]
    assert contents == ["Dee lives in Lisbon"]


def test_the_admin_pages(page: Page, gateway: RunningGateway) -> None:
    sign_in(page, gateway, ADMIN_KEY)
    assert page.url.endswith("/ui/tenants")
    screenshot(page, "tenants")
    follow(page, page.get_by_role("link", name="acme"))
    follow(page, page.get_by_role("link", name="activity"))
    assert "Extraction queue" in page.content()
    screenshot(page, "activity")
    follow(page, page.get_by_role("button", name="Sign out"))
    assert page.url.endswith("/ui/login")

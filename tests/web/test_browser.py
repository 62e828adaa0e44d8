"""End to end in a real browser: Playwright driving Debian's Chromium against daphne (started here
on the test database) and the real IMAPS server.

Sign in, create an app-password, see and copy it once, log into IMAPS with it via imaplib, watch
"Last used" change live on the page, revoke it, and see the live session end and the login fail.
Screenshots of each page go to docs/screenshots/ for the README.

Without Chromium (`scripts/install-browser` installs it) the test is skipped, except in CI, where
it fails.
"""

from __future__ import annotations

import imaplib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from tests.conftest import Certs, RunningServer, child_environment
from tests.web.conftest import PASSWORD, make_browser_person, sign_in

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "screenshots"
CHROMIUM = Path(os.environ.get("CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def settled_content(page: Any) -> str:
    """The page's HTML once it has stopped navigating (Chromium's own error page included)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            return str(page.content())
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = f"Chromium is not installed at {CHROMIUM} (run scripts/install-browser)"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def web(imap_server: RunningServer) -> Iterator[str]:
    """daphne serving mailkite.asgi on a free port, on the test database, naming the test IMAPS
    server as the public one (so the page shows where imaplib connects)."""
    port = _free_port()
    env = child_environment(  # no REDIS_URL: the polled change counters, what a fresh clone runs
        IMAP_PUBLIC_HOST="127.0.0.1",
        IMAP_PUBLIC_PORT=str(imap_server.port),
        SMTP_SUBMISSION_HOST="smtp.mailkite.test",
        DEBUG="true",
    )
    log = open(settings.MAILKITE.data_dir / f"daphne-{port}.log", "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "mailkite.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"daphne did not start: {log.name}") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)
        log.close()


def test_create_copy_use_watch_and_revoke(
    web: str, imap_server: RunningServer, certs: Certs, monkeypatch: Any
) -> None:
    _require_chromium()
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import expect, sync_playwright

    person = make_browser_person("dana", "dana.example")
    address = person.address
    SHOTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop in this thread; Django would refuse ORM calls.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1200, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
        )
        page = context.new_page()

        # Every page is behind sign-in.
        page.goto(f"{web}/settings/imap/")
        expect(page).to_have_url(f"{web}/accounts/login/?next=/settings/imap/")
        page.get_by_label("Username").fill("dana")
        page.get_by_label("Password").fill(PASSWORD)
        page.screenshot(path=SHOTS / "sign-in.png")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Settings → IMAP")).to_be_visible()

        # Create: label, mailbox, the account password re-entered.
        page.get_by_role("link", name="New app-password").click()
        page.get_by_label("Label").fill("Thunderbird on my laptop")
        page.get_by_label("Mailbox").select_option(label=address)
        page.get_by_label("Your account password").fill(PASSWORD)
        page.screenshot(path=SHOTS / "new-app-password.png", full_page=True)
        page.get_by_role("button", name="Create app-password").click()

        # Shown once, with a warning and a copy button that really copies.
        expect(page.get_by_text("Copy it now: it won't be shown again.")).to_be_visible()
        secret = page.locator("#secret").input_value()
        assert secret.startswith("mk_imap_")
        page.locator("button.copy[data-copy='#secret']").click()
        assert page.evaluate("navigator.clipboard.readText()") == secret
        expect(page.get_by_role("link", name="Download .mobileconfig")).to_be_visible()
        page.screenshot(path=SHOTS / "app-password-created.png", full_page=True)

        # Done is gated by "I've saved it"; afterwards the secret is nowhere to be seen again.
        page.get_by_label("I've saved the password or set up my app").check()
        page.get_by_role("button", name="Done").click()
        row = page.locator("tr", has_text="Thunderbird on my laptop")
        expect(row.locator("td.last-used")).to_have_text("Never used")
        assert secret not in page.content()
        # Back leads to the one-time page: no-store means the browser may not show it from its
        # cache and will not silently post the form again.
        with pytest.raises(PlaywrightError, match="ERR_CACHE_MISS"):
            page.go_back()
        assert secret not in settled_content(page)
        page.goto(f"{web}/settings/imap/")
        expect(page.locator("#live-status")).to_contain_text("Live")

        # A real IMAPS login with the copied password: "Last used" changes without a reload.
        imap = imaplib.IMAP4_SSL(
            imap_server.host, imap_server.port, ssl_context=certs.client_context(), timeout=20
        )
        imap.xatom("ID", '("name" "Thunderbird" "version" "140.0")')
        imap.login(address, secret)
        expect(row.locator("td.last-used")).to_have_text("just now · 127.0.0.1 · Thunderbird", timeout=15_000)
        page.screenshot(path=SHOTS / "imap-settings.png", full_page=True)

        # Revoke, confirming by name: the live session ends at once, and the password is refused.
        imap.select("INBOX")
        imap.send(b"i1 IDLE\r\n")
        assert imap.readline().startswith(b"+ ")
        row.get_by_role("link", name="Revoke Thunderbird on my laptop").click()
        expect(
            page.get_by_text("Mail apps using “Thunderbird on my laptop” will be disconnected immediately")
        ).to_be_visible()
        page.screenshot(path=SHOTS / "revoke.png")
        page.get_by_role("button", name="Revoke “Thunderbird on my laptop”").click()
        expect(page.get_by_role("status")).to_contain_text("Revoked “Thunderbird on my laptop”")
        assert imap.readline() == b"* BYE This app-password was revoked.\r\n"
        fresh = imaplib.IMAP4_SSL(
            imap_server.host, imap_server.port, ssl_context=certs.client_context(), timeout=20
        )
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            fresh.login(address, secret)
        fresh.shutdown()
        page.locator("summary", has_text="Revoked app-passwords (1)").click()
        page.screenshot(path=SHOTS / "imap-settings-revoked.png", full_page=True)

        page.get_by_role("link", name="Set up a client").click()
        page.screenshot(path=SHOTS / "client-setup.png", full_page=True)

        # Narrow screens: the table turns into cards.
        page.set_viewport_size({"width": 390, "height": 844})
        page.goto(f"{web}/settings/imap/")
        page.screenshot(path=SHOTS / "imap-settings-phone.png", full_page=True)
        browser.close()


# Reports every Content-Security-Policy violation (enforced, or report-only as under DEBUG) to the
# console, where the listener below turns it into a test failure.
REPORT_CSP_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", function (event) {
  console.error("CSP violation: " + event.violatedDirective + " blocked " + (event.blockedURI || "inline"));
});
"""


def test_scope_picker_without_csp_violations_or_console_errors(
    web: str, imap_server: RunningServer, monkeypatch: Any
) -> None:
    """Create an API key with a chosen scope; the list shows it. Any CSP violation or console error
    on any page visited (the API docs included) fails the test."""
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    make_browser_person("erin", "erin.example")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    problems: list[str] = []

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 900})
        context.add_init_script(REPORT_CSP_VIOLATIONS)
        page = context.new_page()
        page.on(
            "console",
            lambda message: (
                problems.append(f"{message.text} at {message.location.get('url')}")
                if message.type == "error"
                else None
            ),
        )
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on(
            "response",
            lambda response: (
                problems.append(f"{response.status} {response.url}") if response.status >= 400 else None
            ),
        )

        page.goto(f"{web}/accounts/login/")
        sign_in(page, "erin")
        expect(page.get_by_role("heading", name="Settings → IMAP")).to_be_visible()

        page.get_by_role("link", name="API keys").click()
        page.get_by_role("link", name="New API key").click()
        page.get_by_label("Label").fill("inventory script")
        page.get_by_label("app-passwords:read", exact=False).uncheck()
        page.get_by_label("domains:read", exact=False).check()
        page.get_by_label("Your account password").fill(PASSWORD)
        page.screenshot(path=SHOTS / "new-api-key.png", full_page=True)
        page.get_by_role("button", name="Create API key").click()
        expect(page.get_by_text("Copy it now: it won't be shown again.")).to_be_visible()
        assert page.locator("#secret").input_value().startswith("mk_api_")
        expect(page.locator(".secret-box")).to_contain_text("domains:read")
        page.get_by_label("I've saved the key").check()
        page.get_by_role("button", name="Done").click()

        row = page.locator("tr", has_text="inventory script")
        expect(row.locator("td.scopes")).to_have_text("domains:read")
        page.screenshot(path=SHOTS / "api-keys.png", full_page=True)

        page.goto(f"{web}/api/docs/")
        expect(page.locator(".swagger-ui .info")).to_be_visible(timeout=15_000)
        browser.close()

    assert problems == []

"""A password's login history in a real browser (Playwright, Debian's Chromium, daphne on the
test database) after a real IMAPS login (issue 15.4, 15.7), and the new-login alert switch.
Skipped without Chromium, except in CI, where it fails."""

from __future__ import annotations

import imaplib
from typing import Any

import pytest

from passwords import alerts, service
from tests.adversarial.login_helpers import forged_password
from tests.conftest import Certs, RunningServer
from tests.web.conftest import dashboard_actor, make_browser_person, sign_in
from tests.web.test_browser import (  # noqa: F401  (web is a fixture)
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    _require_chromium,
    web,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_history_shows_a_real_login(
    web: str,  # noqa: F811
    imap_server: RunningServer,
    certs: Certs,
    monkeypatch: Any,
) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    person = make_browser_person("gwen", "gwen.example")
    row, secret = service.user_create_app_password(
        actor=dashboard_actor(person), mailbox=person.mailbox, label="Phone"
    )
    imap = imaplib.IMAP4_SSL(
        imap_server.host, imap_server.port, ssl_context=certs.client_context(), timeout=20
    )
    imap.login(person.address, secret)
    imap.xatom("ID", '("name" "Thunderbird" "version" "140.0")')
    with pytest.raises(imaplib.IMAP4.error):  # a refused login of the same key id: a second row
        wrong = imaplib.IMAP4_SSL(imap_server.host, imap_server.port, ssl_context=certs.client_context())
        wrong.login(person.address, forged_password(row.key_id))
    SHOTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop lives in this thread

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        page.goto(f"{web}/settings/imap/")
        sign_in(page, "gwen")
        expect(page.get_by_role("heading", name="Settings → IMAP")).to_be_visible()

        page.get_by_role("link", name="Login history of Phone").click()
        expect(page.get_by_role("heading", name="Login history of “Phone”")).to_be_visible()
        table = page.locator("#login-history")
        # The rows are written in batches about a second apart: reload until both are there.
        for _ in range(40):
            if table.count() and table.locator("tbody tr").count() == 2:
                break
            page.wait_for_timeout(250)
            page.reload()
        newest, oldest = table.locator("tbody tr").nth(0), table.locator("tbody tr").nth(1)
        expect(newest).to_contain_text("Refused")
        expect(newest).to_contain_text("the rest of the password is wrong")
        expect(oldest).to_contain_text("Logged in")
        expect(oldest).to_contain_text("127.0.0.1")
        expect(oldest).to_contain_text("Thunderbird")
        expect(oldest).to_contain_text("TLSv1.")
        page.screenshot(path=SHOTS / "login-history.png", full_page=True)

        # The new-login alert switch under Settings → IMAP.
        page.get_by_role("link", name="Settings → IMAP").click()
        switch = page.get_by_label(
            "Email me when an app-password is used from a new network or a new mail client"
        )
        expect(switch).to_be_checked()
        switch.uncheck()
        page.locator("#login-alerts-form").get_by_role("button", name="Save").click()
        expect(page.get_by_role("status")).to_contain_text("New-login alerts are off.")
        assert not alerts.alerts_enabled(person.user)
        browser.close()
    imap.logout()
    assert row.pk

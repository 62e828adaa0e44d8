"""In Chromium (Playwright) against daphne and the real IMAPS server: create a read-only,
expiring, network-limited app-password, read its limits in the list, use it from an allowed and
a refused address, and narrow it later (issue 15 point 7)."""

from __future__ import annotations

import imaplib
from typing import Any

import pytest

from tests.adversarial.login_helpers import SourceIMAP
from tests.conftest import Certs, RunningServer
from tests.web.conftest import PASSWORD, make_browser_person, sign_in
from tests.web.test_browser import CHROMIUM, CHROMIUM_ARGS, _require_chromium, web  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)


def test_create_a_scoped_expiring_network_limited_password(
    web: str,  # noqa: F811
    imap_server: RunningServer,
    certs: Certs,
    monkeypatch: Any,
) -> None:
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    person = make_browser_person("erin", "erin.example")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1200, "height": 900}).new_page()
        page.goto(f"{web}/settings/imap/")
        sign_in(page, "erin")

        page.get_by_role("link", name="New app-password").click()
        page.get_by_label("Label").fill("Backup agent")
        page.get_by_label("Read only (nothing is marked read; flags cannot change)").check()
        page.get_by_label("Expires").select_option(label="In 7 days")
        page.get_by_label("Allowed networks (optional)").fill("127.0.0.1/32")
        page.get_by_label("Your account password").fill(PASSWORD)
        page.get_by_role("button", name="Create app-password").click()
        secret = page.locator("#secret").input_value()
        page.get_by_label("I've saved the password or set up my app").check()
        page.get_by_role("button", name="Done").click()

        row = page.locator("tr", has_text="Backup agent")
        expect(row.locator("td.status")).to_have_text("Active, expires in 7 days")
        expect(row.locator("td.limits")).to_have_text("Read only · from 127.0.0.1")

        context = certs.client_context()
        refused = SourceIMAP(imap_server.host, imap_server.port, source="127.0.0.2", ssl_context=context)
        with pytest.raises(imaplib.IMAP4.error, match=r"may not be used from 127\.0\.0\.2"):
            refused.login(person.address, secret)
        refused.shutdown()
        allowed = SourceIMAP(imap_server.host, imap_server.port, source="127.0.0.1", ssl_context=context)
        allowed.login(person.address, secret)
        assert allowed.select("INBOX")[0] == "OK"
        assert allowed.store(b"1:*", "+FLAGS", "(\\Seen)")[0] == "NO"
        allowed.logout()

        # Later: a sooner expiry needs no password; the list says so at once.
        row.get_by_role("link", name="Change limits of Backup agent").click()
        page.get_by_label("Expires").select_option(label="On a date")
        tomorrow = page.evaluate("new Date(Date.now() + 86400000 * 2).toISOString().slice(0, 10)")
        page.get_by_label("Expiry date").fill(tomorrow)
        page.get_by_role("button", name="Save limits").click()
        expect(page.get_by_role("status")).to_contain_text("Saved the limits of “Backup agent”")
        expect(row.locator("td.status")).to_contain_text("Active, expires in ")
        browser.close()

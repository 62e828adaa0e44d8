"""Settings → Domains in a real browser (Playwright, Debian's Chromium, daphne on the test database):
adding a domain shows the exact TXT record proving ownership, and its copy button really copies it.

The copy button is wired by static/mailkite.js (no inline script: the pages run under a strict
Content-Security-Policy). Skipped without Chromium, except in CI, where it fails.
"""

from __future__ import annotations

from typing import Any

import pytest

from mailkite.mail.models import Domain
from tests.web.conftest import make_browser_person, sign_in
from tests.web.test_browser import (  # noqa: F401  (web is a fixture)
    CHROMIUM,
    CHROMIUM_ARGS,
    SHOTS,
    _require_chromium,
    web,
)

pytestmark = pytest.mark.django_db(transaction=True)


def test_domains_page_shows_the_txt_record_and_copies_it(web: str, monkeypatch: Any) -> None:  # noqa: F811
    _require_chromium()
    from playwright.sync_api import expect, sync_playwright

    make_browser_person("erin", "erin.example")
    SHOTS.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's loop lives in this thread

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1200, "height": 900}, permissions=["clipboard-read", "clipboard-write"]
        )
        page = context.new_page()
        page.goto(f"{web}/settings/domains/")
        sign_in(page, "erin")
        expect(page.get_by_role("heading", name="Settings → Domains")).to_be_visible()

        page.get_by_label("Domain").fill("Shop.Example")
        page.get_by_role("button", name="Add domain").click()
        expect(page.get_by_role("status")).to_contain_text("Publish the TXT and MX records below")

        domain = Domain.objects.get(name="shop.example")
        value = f"mailkite-verification={domain.verification_token}"
        card = page.locator("section.card", has=page.get_by_role("heading", name="shop.example"))
        expect(card.get_by_role("heading", name="Ownership: Pending")).to_be_visible()
        record = card.get_by_role("table", name="TXT record for shop.example")
        expect(record.locator("td").nth(0)).to_have_text("shop.example (or _mailkite.shop.example)")
        expect(record.locator("td").nth(1)).to_have_text("TXT")
        expect(record.locator(f"#txt-{domain.pk}")).to_have_text(value)
        expect(card.locator("pre").first).to_contain_text(f'shop.example.  3600  IN  TXT  "{value}"')

        button = record.locator(f"button.copy[data-copy='#txt-{domain.pk}']")
        expect(button).to_have_text("Copy")
        button.click()
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == value
        page.screenshot(path=SHOTS / "domains.png", full_page=True)
        browser.close()

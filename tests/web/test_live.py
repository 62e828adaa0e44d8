"""Live last-used over the dashboard's websocket, fed by the process's EventHub (the polled change
counters, or Redis pub/sub); and the dashboard against a real IMAPS server: a real login shows up
as last-used, and revoking in the dashboard ends the live IMAP session at once."""

from __future__ import annotations

import asyncio
import dataclasses
import imaplib
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.db import connections
from django.test import Client
from django.urls import reverse

from mailkite.asgi import application
from passwords import live, service
from passwords.models import AppPassword
from tests.conftest import Account
from tests.web.conftest import Person, dashboard_actor

pytestmark = pytest.mark.django_db(transaction=True)
ORIGIN = (b"origin", b"http://localhost")


def session_cookie(user: Any) -> tuple[bytes, bytes]:
    client = Client()
    client.force_login(user)
    return (b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode())


async def open_socket(*headers: tuple[bytes, bytes]) -> tuple[WebsocketCommunicator, bool, int | None]:
    communicator = WebsocketCommunicator(application, "/ws/app-passwords/", headers=list(headers))
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def in_thread(fn: Any, **kwargs: Any) -> Any:
    """Call a service in another thread, as imapd would, closing that thread's connection after."""

    def call() -> Any:
        try:
            return fn(**kwargs)
        finally:
            connections.close_all()

    return await asyncio.to_thread(call)


def run(scenario: Any) -> None:
    async def with_hub_stopped() -> None:
        try:
            await scenario()
        finally:
            await live.stop_hub()

    asyncio.run(with_hub_stopped())


def test_a_login_updates_last_used_live(alice: Person, bob: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Laptop"
    )
    theirs, _ = service.user_create_app_password(
        actor=dashboard_actor(bob), mailbox=bob.mailbox, label="Bob's"
    )
    cookie = session_cookie(alice.user)

    async def scenario() -> None:
        socket, connected, _ = await open_socket(cookie, ORIGIN)
        assert connected
        assert await socket.receive_json_from(timeout=5) == {"type": "hello", "watching": [row.pk]}
        # Another user's login is not ours to see.
        await in_thread(service.record_use, app_password_id=theirs.pk, ip="192.0.2.99")
        assert await socket.receive_nothing(timeout=2.5)
        # Ours arrives without a reload, read back from the database the write went to.
        await in_thread(
            service.record_use, app_password_id=row.pk, ip="203.0.113.7", client_name="Thunderbird"
        )
        update = await socket.receive_json_from(timeout=10)
        assert update["type"] == "app_password" and update["id"] == row.pk
        assert update["status"] == "active"
        assert update["last_used_ip"] == "203.0.113.7" and update["last_used_client"] == "Thunderbird"
        assert update["last_used_text"] == "just now · 203.0.113.7 · Thunderbird"
        await socket.disconnect()

    run(scenario)


def test_a_revocation_elsewhere_shows_at_once(alice: Person) -> None:
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Tablet"
    )
    cookie = session_cookie(alice.user)

    async def scenario() -> None:
        socket, connected, _ = await open_socket(cookie, ORIGIN)
        assert connected
        await socket.receive_json_from(timeout=5)
        await in_thread(service.revoke_app_password, app_password=row)
        update = await socket.receive_json_from(timeout=10)
        assert update["status"] == "revoked" and update["status_text"].startswith("Revoked")
        await socket.disconnect()

    run(scenario)


def test_over_redis_pub_sub(alice: Person, settings: Any, redis_url: str) -> None:
    # Both sides switch to Redis: record_use publishes after commit, the hub subscribes. The hub's
    # reconciliation poll runs every 30 s, so an update within seconds came through Redis.
    settings.MAILKITE = dataclasses.replace(settings.MAILKITE, redis_url=redis_url)
    row, _ = service.user_create_app_password(
        actor=dashboard_actor(alice), mailbox=alice.mailbox, label="Phone"
    )
    cookie = session_cookie(alice.user)

    async def scenario() -> None:
        socket, connected, _ = await open_socket(cookie, ORIGIN)
        assert connected
        await socket.receive_json_from(timeout=5)
        await asyncio.sleep(1.5)  # past the hub's first poll: from here on only Redis is quick
        await in_thread(service.record_use, app_password_id=row.pk, ip="198.51.100.8", client_name="K-9")
        update = await socket.receive_json_from(timeout=5)
        assert update["last_used_client"] == "K-9"
        await socket.disconnect()

    run(scenario)


def test_the_socket_needs_a_session_and_our_origin(alice: Person) -> None:
    cookie = session_cookie(alice.user)

    async def scenario() -> None:
        _, connected, code = await open_socket(ORIGIN)
        assert (connected, code) == (False, 4401)
        _, connected, _ = await open_socket(cookie, (b"origin", b"https://evil.example"))
        assert not connected

    run(scenario)


# -- against a real IMAPS server -------------------------------------------------------------------


def signed_in_owner(account: Account) -> Client:
    client = Client()
    client.force_login(account.mailbox.domain.owner)
    return client


def test_a_real_imap_login_shows_as_last_used(connect: Any, account: Account) -> None:
    dashboard = signed_in_owner(account)
    assert "Never used" in dashboard.get(reverse("imap-settings")).content.decode()
    imap = connect()
    imap.xatom("ID", '("name" "Dashboard-Test" "version" "1")')
    imap.login(account.address, account.password)
    page = dashboard.get(reverse("imap-settings")).content.decode()
    assert "just now · 127.0.0.1 · Dashboard-Test" in page


def test_revoking_in_the_dashboard_ends_the_live_imap_session(connect: Any, account: Account) -> None:
    imap = connect()
    imap.login(account.address, account.password)
    imap.select("INBOX")
    imap.send(b"i1 IDLE\r\n")
    assert imap.readline().startswith(b"+ ")
    row = AppPassword.objects.get()
    response = signed_in_owner(account).post(reverse("app-password-revoke", args=[row.pk]))
    assert response.status_code == 302
    assert imap.readline() == b"* BYE This app-password was revoked.\r\n"
    fresh = connect()
    with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
        fresh.login(account.address, account.password)

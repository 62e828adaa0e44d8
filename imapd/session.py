"""One connection's protocol state: the RFC 3501 state machine and command dispatch.

execute() checks the state table, runs the handler, and maps its outcome to the wire at one
site: yielded Untagged lines, then a tagged OK (or the Done it yielded); No/Bad become tagged
NO/BAD with the handler's sentence; any other exception is logged under the connection id and
the client gets a plain NO, never the exception text.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.db import Error as DatabaseError

import imapd.commands  # noqa: F401  (registers every handler)
from imapd import capabilities, dbpool, store, texts
from imapd.dispatch import HANDLERS, State
from imapd.render import compact_set, fetch_flags
from imapd.responses import Bad, Bye, CommandError, Done, No, Untagged, tagged
from mailkite.events import publish as events
from passwords.service import expired_text

if TYPE_CHECKING:
    from imapd.admission import Ticket
    from imapd.history import Attempt
    from imapd.server import ImapServer
    from imapd.snapshot import FolderView
    from imapd.store import MessageState
    from passwords.service import Verified

log = logging.getLogger("imapd")
RECHECK_SECONDS = 300  # re-check the password every few minutes in case a revocation was missed
OVER_BUDGET = "That command took more database time than allowed; narrow it down and try again."


class Session:
    def __init__(
        self,
        *,
        conn_id: str,
        peer: str,
        server: ImapServer,
        ask: Callable[[bytes], Awaitable[bytes]],
        read_line: Callable[[], Awaitable[bytes]],
        end: Callable[[str], None],
        tls_version: str = "",
    ) -> None:
        self.conn_id = conn_id
        self.peer = peer
        self.tls_version = tls_version  # "TLSv1.3": for the login history
        self.server = server
        self.pools = server.pools
        self.options = server.options
        self.ask = ask
        self.read_line = read_line
        self.end = end
        self.idling = False
        self.changed = asyncio.Event()  # set when another session or process changes the selected folder
        self.woken_at = 0.0  # time.monotonic() of the latest such notification
        self._watching: list[tuple[str, int, Callable[[str, int], None]]] = []
        self._folder_watch: tuple[str, int, Callable[[str, int], None]] | None = None
        self.state = State.NOT_AUTHENTICATED
        self.verified: Verified | None = None
        self.view: FolderView | None = None
        self.client_name = ""
        self.login: Attempt | None = None  # this session's successful login, in the history
        self.logged_out = False
        self.checked_at = 0.0
        self.saved_search: list[int] = []
        self.enabled: set[str] = set()  # ENABLE'd extensions, in their advertised spelling
        self.condstore = False  # a CONDSTORE enabling command was seen (RFC 7162 §3.1)
        self.start_compression = False  # set by COMPRESS; the connection acts after the tagged OK
        self.compressed = False
        # Before login the connection has a total deadline from connect (whatever the client
        # sends); the server sets it from the accept time and hands over the admission ticket.
        self.login_deadline = time.monotonic() + self.options.login_timeout
        self.ticket: Ticket | None = None
        self.failed_logins = 0  # LOGIN/AUTHENTICATE failures on this connection
        self.quiet = False  # this command logged (or summarised) its own line: no access line
        self._expiry_timer: asyncio.TimerHandle | None = None

    # -- facts the connection asks about -------------------------------------------------------

    @property
    def authenticated(self) -> bool:
        return self.verified is not None

    @property
    def key_id(self) -> str | None:
        return self.verified.key_id if self.verified else None

    def timeout(self) -> float:
        """How long the next read may wait: the idle timeout, or what is left before the deadline."""
        if self.authenticated:
            return self.options.idle_timeout
        return max(0.0, self.login_deadline - time.monotonic())

    def timeout_text(self) -> str:
        if self.authenticated:
            return "Idle for too long, closing the connection."
        return texts.login_deadline(self.options.login_timeout)

    def greeting(self) -> bytes:
        return f"* OK [CAPABILITY {capabilities.line(False)}] MailKite IMAP ready\r\n".encode()

    def literal_refusal(self, prefix: bytes, size: int) -> CommandError | None:
        """Whether to accept a synchronising literal; APPEND is refused before its upload."""
        from imapd.commands import refused

        return refused.literal_refusal(self, prefix, size)

    @property
    def qresync(self) -> bool:
        return "QRESYNC" in self.enabled

    @property
    def rev2(self) -> bool:
        """ENABLE IMAP4rev2 was sent: ESEARCH answers, no RECENT (RFC 9051 Appendix E)."""
        return "IMAP4rev2" in self.enabled

    @property
    def read_only(self) -> bool:
        """A read-only app-password (passwords.policy): FETCH peeks, STORE is refused."""
        return self.verified is not None and self.verified.read_only

    @property
    def mailbox_id(self) -> int:
        assert self.verified is not None
        return self.verified.mailbox_id

    def deselect(self) -> None:
        self.view = None
        if self._folder_watch is not None:
            self.server.events.unwatch(*self._folder_watch)
            self._folder_watch = None
        if self.state is State.SELECTED:
            self.state = State.AUTHENTICATED

    def selected(self, view: FolderView) -> None:
        """Make `view` the selected folder and listen for its changes from elsewhere."""
        self.deselect()
        self.view = view
        self.state = State.SELECTED
        self.changed.clear()
        self._folder_watch = (events.FOLDER, view.info.id, self._on_folder_change)
        self.server.events.watch(*self._folder_watch)

    def logged_in(self, verified: Verified) -> None:
        """Listen for revocation of the password and changes to its domain (DESIGN §4)."""
        self.verified = verified
        self.state = State.AUTHENTICATED
        self.checked_at = time.monotonic()
        for kind, key in ((events.CREDENTIAL, verified.app_password_id), (events.DOMAIN, verified.domain_id)):
            self._watching.append((kind, key, self._on_credential_change))
            self.server.events.watch(kind, key, self._on_credential_change)
        self._schedule_expiry(verified.expires_at)

    def _schedule_expiry(self, expires_at: datetime | None) -> None:
        """End the session at the moment its password expires (issue 15.1), not at the next
        re-check; a changed expiry (a credential event) moves the timer."""
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        if expires_at is None:
            return
        delay = max(0.0, (expires_at - datetime.now(UTC)).total_seconds())
        text = texts.ascii_only(expired_text(expires_at))
        self._expiry_timer = asyncio.get_running_loop().call_later(delay, self.end, text)

    def _on_folder_change(self, kind: str, key: int) -> None:
        self.woken_at = time.monotonic()
        self.changed.set()

    def _on_credential_change(self, kind: str, key: int) -> None:
        asyncio.get_running_loop().create_task(self._revalidate())

    async def _revalidate(self) -> None:
        if self.verified is None:
            return
        verified = self.verified
        try:
            refusal = await self.pools.run(
                store.session_refusal, verified.app_password_id, self.peer, verified.scope
            )
            expires_at = await self.pools.run(store.expires_at, verified.app_password_id)
        except Exception:  # an outage is not a revocation; the periodic re-check tries again
            return
        if refusal is not None:
            self.end(texts.ascii_only(refusal))
        elif self.verified is not None:
            self._schedule_expiry(expires_at)

    async def pending_updates(self, *, fresh_after: float | None = None) -> list[Untagged]:
        """Other sessions' changes to the selected folder, as EXISTS and FETCH (FLAGS) lines.

        Called only where clients expect them (NOOP, CHECK, STATUS of the selected folder, IDLE),
        never in the middle of FETCH, SEARCH or STORE (DESIGN §5). The answer holds every change
        committed before `fresh_after` (default: now); an idler passes the moment it was woken,
        so the idlers woken by one change share one query."""
        view = self.view
        if view is None:
            return []
        info, changes, gone = await self.server.snapshots.changes(
            view.info.id, view.highest_modseq, fresh_after=fresh_after
        )
        replies = []
        # Expunges first, then EXISTS, then FETCH: sequence numbers stay right at every line.
        removed = view.remove(gone)
        if removed and self.qresync:  # RFC 7162 §3.2.10: VANISHED instead of EXPUNGE
            replies.append(Untagged(b"VANISHED " + compact_set([uid for uid, _ in removed]).encode()))
        else:
            replies.extend(Untagged(b"%d EXPUNGE" % seq) for _, seq in removed)
        update = view.apply(info, changes)
        if update.exists is not None:
            replies.append(Untagged(b"%d EXISTS" % update.exists))
        for seq, state in update.flag_changes:
            replies.append(Untagged(b"%d FETCH (" % seq + self.fetch_flags_items(state) + b")"))
        return replies

    def fetch_flags_items(self, state: MessageState, *, flags: bool = True) -> bytes:
        """FLAGS for an unsolicited FETCH, with UID and MODSEQ once CONDSTORE is on (RFC 7162 §3.1)."""
        parts = [fetch_flags(state)] if flags else []
        if self.condstore:
            parts.append(b"UID %d MODSEQ (%d)" % (state.uid, state.modseq))
        return b" ".join(parts)

    async def record_use(self, *, force_client: bool = False) -> None:
        """Last-used: at most one write a minute per password (DESIGN §4); an ID name always."""
        assert self.verified is not None
        app_password_id = self.verified.app_password_id
        await self.pools.run(store.record_use, app_password_id, self.peer, self.client_name)
        if force_client and self.client_name:
            await self.pools.run(store.record_client_name, app_password_id, self.client_name)

    # -- dispatch ------------------------------------------------------------------------------

    async def execute(self, command: Any) -> AsyncIterator[bytes]:
        tag = command.tag
        entry = HANDLERS.get(type(command))
        if entry is None:
            yield tagged(tag, "BAD", "That command is not supported by this server.")
            return
        handler, states = entry
        if self.state not in states:
            yield tagged(tag, "BAD", self._wrong_state_text())
            return
        if self.verified is not None:  # the connection task's database calls count for this mailbox
            dbpool.OWNER.set(self.verified.mailbox_id)
        await self._maybe_recheck()
        done = Done("completed")
        name = ("UID " if getattr(command, "uid", False) else "") + type(command).__name__.upper()
        try:
            async for reply in handler(self, command):
                if isinstance(reply, Done):
                    done = reply
                else:
                    yield reply.to_bytes()
        except CommandError as error:
            yield tagged(tag, error.status, error.text, error.code)
            return
        except (Bye, ConnectionError):  # a BYE to send, or the client is gone (mid-IDLE)
            raise
        except dbpool.BudgetExceeded:
            log.info("%s %s stopped at the database budget", self.conn_id, name)
            yield tagged(tag, "NO", OVER_BUDGET, "LIMIT")
            return
        except DatabaseError:
            log.warning("%s database unavailable during %s", self.conn_id, name, exc_info=True)
            yield tagged(tag, "NO", texts.UNAVAILABLE, "UNAVAILABLE")
            return
        except Exception:
            log.exception("%s handler for %s failed", self.conn_id, type(command).__name__)
            yield tagged(
                tag, "NO", "The server could not complete that command; please try again.", "SERVERBUG"
            )
            return
        text = f"{name} {done.text}" if done.text == "completed" else done.text
        yield tagged(tag, "OK", text, done.code)

    def _wrong_state_text(self) -> str:
        if self.state is State.NOT_AUTHENTICATED:
            return "Log in first (LOGIN or AUTHENTICATE PLAIN with an app-password)."
        if self.state is State.AUTHENTICATED:
            return "Select a folder first (SELECT INBOX)."
        return "That command is not valid now."

    async def _maybe_recheck(self) -> None:
        """Sessions re-check their password every few minutes in case a revocation event was lost."""
        if self.verified is None or time.monotonic() - self.checked_at < RECHECK_SECONDS:
            return
        verified = self.verified
        refusal = await self.pools.run(
            store.session_refusal, verified.app_password_id, self.peer, verified.scope
        )
        if refusal is not None:
            raise Bye(texts.ascii_only(refusal))
        self.checked_at = time.monotonic()

    async def close(self) -> None:
        self.deselect()
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
            self._expiry_timer = None
        for watch in self._watching:
            self.server.events.unwatch(*watch)
        self._watching.clear()


__all__ = ["Bad", "Done", "No", "Session", "Untagged"]

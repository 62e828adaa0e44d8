"""Who may hold a connection to this worker (issue 10, "Connection limits with sentences").

Three counts, each with its own setting (ServerOptions):
- every connection of this worker process, from accept to close;
- per client address (IPv4 address, IPv6 /64), the connections not logged in yet, counted from
  accept, so those still in the TLS handshake count too;
- per mailbox and address, the logged-in connections (Dovecot's mail_max_userip_connections),
  checked at login.

A refusal is a sentence for `* BYE`, never with anything the client sent in it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from imapd import texts
from imapd.throttle import address_key


@dataclass
class Ticket:
    """One admitted connection: where it came from and, once logged in, which mailbox."""

    address: str
    mailbox_id: int | None = None
    released: bool = False


class Admission:
    def __init__(
        self, *, max_connections: int, unauthenticated_per_address: int, per_mailbox_address: int
    ) -> None:
        self.max_connections = max_connections
        self.unauthenticated_per_address = unauthenticated_per_address
        self.per_mailbox_address = per_mailbox_address
        self.total = 0
        self._unauthenticated: Counter[str] = Counter()
        self._authenticated: Counter[tuple[int, str]] = Counter()

    def admit(self, peer: str) -> Ticket | str:
        """A ticket for a new connection from `peer`, or the sentence refusing it."""
        address = address_key(peer)
        if self.total >= self.max_connections:
            return texts.SERVER_FULL
        if self._unauthenticated[address] >= self.unauthenticated_per_address:
            return texts.TOO_MANY_UNAUTHENTICATED
        self.total += 1
        self._unauthenticated[address] += 1
        return Ticket(address)

    def log_in(self, ticket: Ticket, mailbox_id: int) -> str | None:
        """Move a connection to the logged-in count of its mailbox; the sentence if it may not."""
        if self._authenticated[(mailbox_id, ticket.address)] >= self.per_mailbox_address:
            return texts.too_many_for_mailbox(self.per_mailbox_address)
        self._decrement(self._unauthenticated, ticket.address)
        ticket.mailbox_id = mailbox_id
        self._authenticated[(mailbox_id, ticket.address)] += 1
        return None

    def release(self, ticket: Ticket) -> None:
        if ticket.released:
            return
        ticket.released = True
        self.total -= 1
        if ticket.mailbox_id is None:
            self._decrement(self._unauthenticated, ticket.address)
        else:
            self._decrement(self._authenticated, (ticket.mailbox_id, ticket.address))

    @staticmethod
    def _decrement(counts: Counter, key: object) -> None:  # type: ignore[type-arg]
        counts[key] -= 1
        if counts[key] <= 0:
            del counts[key]

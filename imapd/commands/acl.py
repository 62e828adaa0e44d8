"""ACL (RFC 4314) and QUOTA (RFC 9208). State: authenticated or selected.

Rights are fixed: every app-password may look up, read, keep \\Seen and write flags in both
folders of its mailbox: `lrsw`, nothing else; a read-only app-password `lr` (issue 15.3).
MYRIGHTS says so, and Thunderbird and mutt then grey out Delete and Move (DESIGN §5). GETACL
and LISTRIGHTS answer for the user's own identifier
(the mailbox address); SETACL and DELETEACL are refused with NO [NOPERM].

QUOTA has one root, "", spanning both folders, with the real usage (STORAGE in KiB, MESSAGE
count) against nominal limits (limits.QUOTA_*), since RFC 9208 has no way to say "unlimited".
SETQUOTA is refused with NO [NOPERM].
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from imapd import limits, render, store
from imapd.command import DeleteAcl, GetAcl, GetQuota, GetQuotaRoot, ListRights, MyRights, SetAcl, SetQuota
from imapd.commands.mailbox import NONEXISTENT, folder_name
from imapd.dispatch import AUTHENTICATED, Reply, handles
from imapd.responses import Bad, No, Untagged

if TYPE_CHECKING:
    from imapd.session import Session

RIGHTS = "lrsw"
# RFC 4314 §2.1 and §2.1.1: the rights a server must recognise, the obsolete "c" and "d", and the
# digits reserved for implementations. Any other letter in SETACL is a BAD (§3.1).
KNOWN_RIGHTS = frozenset("lrswipkxtecda0123456789")
NO_ACL_CHANGE = (
    "Sharing cannot be changed: each app-password reads its own mailbox, with the rights lrsw "
    "(look up, read, keep seen, write flags)."
)
READ_ONLY_RIGHTS = "lr"
QUOTA_ROOT = ""
NO_QUOTA_ROOT = 'There is no such quota root: this account has one, named "".'
NO_SET_QUOTA = "Storage limits are set by MailKite, not by mail clients."


def _mailbox(name: str) -> bytes:
    """The folder a command names, as the response writes it; NO [NONEXISTENT] when there is none."""
    folder = folder_name(name)
    if folder is None:
        raise No(NONEXISTENT, "NONEXISTENT")
    return render.string(folder)


def _rights(session: Session) -> str:
    return READ_ONLY_RIGHTS if session.read_only else RIGHTS


def _identifier(session: Session) -> str:
    assert session.verified is not None
    return session.verified.address


@handles(MyRights, states=AUTHENTICATED)
async def myrights(session: Session, command: MyRights) -> AsyncIterator[Reply]:
    """RFC 4314 §3.5: the rights of the logged-in user on the mailbox."""
    yield Untagged(b"MYRIGHTS " + _mailbox(command.mailbox) + b" " + _rights(session).encode())


@handles(GetAcl, states=AUTHENTICATED)
async def getacl(session: Session, command: GetAcl) -> AsyncIterator[Reply]:
    """RFC 4314 §3.3: the access control list, which holds the user alone."""
    mailbox = _mailbox(command.mailbox)
    identifier = render.string(_identifier(session))
    yield Untagged(b"ACL " + mailbox + b" " + identifier + b" " + _rights(session).encode())


@handles(ListRights, states=AUTHENTICATED)
async def listrights(session: Session, command: ListRights) -> AsyncIterator[Reply]:
    """RFC 4314 §3.4: rights always granted (`lrsw` to the user, none to others), then the
    optional ones, of which there are none: nothing can be granted or taken away."""
    mailbox = _mailbox(command.mailbox)
    required = _rights(session) if command.identifier.lower() == _identifier(session).lower() else ""
    yield Untagged(
        b"LISTRIGHTS " + mailbox + b" " + render.string(command.identifier) + b" " + render.string(required)
    )


@handles(SetAcl, DeleteAcl, states=AUTHENTICATED)
async def setacl(session: Session, command: SetAcl | DeleteAcl) -> AsyncIterator[Reply]:
    """RFC 4314 §3.1-3.2: refused (the user lacks the "a" right); an unknown right is BAD."""
    _mailbox(command.mailbox)
    if isinstance(command, SetAcl) and not KNOWN_RIGHTS.issuperset(command.rights.lstrip("+-")):
        raise Bad("SETACL names a right that does not exist.")
    raise No(NO_ACL_CHANGE, "NOPERM")
    yield  # pragma: no cover


async def _quota_line(session: Session) -> Untagged:
    octets, messages = await session.pools.run(store.usage, session.mailbox_id)
    kib = (octets + 1023) // 1024
    resources = b"STORAGE %d %d MESSAGE %d %d" % (
        kib,
        limits.QUOTA_STORAGE_KIB,
        messages,
        limits.QUOTA_MESSAGES,
    )
    return Untagged(b"QUOTA " + render.string(QUOTA_ROOT) + b" (" + resources + b")")


@handles(GetQuotaRoot, states=AUTHENTICATED)
async def getquotaroot(session: Session, command: GetQuotaRoot) -> AsyncIterator[Reply]:
    """RFC 9208 §4.1.2: the mailbox's quota root, then that root's QUOTA."""
    yield Untagged(b"QUOTAROOT " + _mailbox(command.mailbox) + b" " + render.string(QUOTA_ROOT))
    yield await _quota_line(session)


@handles(GetQuota, states=AUTHENTICATED)
async def getquota(session: Session, command: GetQuota) -> AsyncIterator[Reply]:
    """RFC 9208 §4.1.1."""
    if command.root != QUOTA_ROOT:
        raise No(NO_QUOTA_ROOT, "NONEXISTENT")
    yield await _quota_line(session)


@handles(SetQuota, states=AUTHENTICATED)
async def setquota(session: Session, command: SetQuota) -> AsyncIterator[Reply]:
    """RFC 9208 §4.1.3: refused."""
    raise No(NO_SET_QUOTA, "NOPERM")
    yield  # pragma: no cover

"""Parse functions for the mailbox commands: SELECT/EXAMINE, CREATE, DELETE, RENAME, (UN)SUBSCRIBE,
LIST (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS, RFC 6154 SPECIAL-USE), LSUB, XLIST, STATUS,
QUOTA (RFC 9208) and ACL (RFC 4314).

Each function takes a cursor positioned after the command name and returns its dataclass; unknown
options are a syntax error (RFC 5258 §3 and RFC 4466 want BAD for them). Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable

from imapd import limits
from imapd.command import (
    Command,
    Create,
    Delete,
    DeleteAcl,
    Examine,
    GetAcl,
    GetQuota,
    GetQuotaRoot,
    List,
    ListRights,
    Lsub,
    MyRights,
    QResync,
    Rename,
    Select,
    SetAcl,
    SetQuota,
    Status,
    Subscribe,
    Unsubscribe,
    Xlist,
)
from imapd.parser_core import Cursor

STATUS_ITEMS = frozenset(
    [
        "MESSAGES",
        "RECENT",
        "UIDNEXT",
        "UIDVALIDITY",
        "UNSEEN",
        "DELETED",
        "SIZE",
        "HIGHESTMODSEQ",
        "APPENDLIMIT",
    ]
)
LIST_SELECTION = frozenset({"SUBSCRIBED", "REMOTE", "RECURSIVEMATCH", "SPECIAL-USE"})
LIST_RETURNS = frozenset({"SUBSCRIBED", "CHILDREN", "SPECIAL-USE"})
SPECIAL_USES = {
    u.upper(): u for u in ["\\All", "\\Archive", "\\Drafts", "\\Flagged", "\\Junk", "\\Sent", "\\Trash"]
}


def _text(cur: Cursor, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        cur.fail()


# -- SELECT / EXAMINE (RFC 9051 §6.3.2, RFC 7162 §3.1.8 and §3.2.5) ------------------------------------


def parse_select(cur: Cursor) -> Select:
    mailbox, condstore, qresync = _select_args(cur)
    return Select(cur.tag, mailbox, condstore, qresync)


def parse_examine(cur: Cursor) -> Examine:
    mailbox, condstore, qresync = _select_args(cur)
    return Examine(cur.tag, mailbox, condstore, qresync)


def _select_args(cur: Cursor) -> tuple[str, bool, QResync | None]:
    cur.sp()
    mailbox = cur.mailbox()
    condstore = False
    qresync: QResync | None = None
    if cur.more():
        for param in cur.paren_list(lambda: _select_param(cur), empty=False):
            if param is None:
                condstore = True
            else:
                qresync = param
    cur.end()
    return mailbox, condstore, qresync


def _select_param(cur: Cursor) -> QResync | None:
    """CONDSTORE (None) or QRESYNC (uidvalidity modseq [known-uids [(seqs uids)]])."""
    name = cur.keyword()
    if name == "CONDSTORE":
        return None
    if name != "QRESYNC":
        cur.fail("Only the CONDSTORE and QRESYNC parameters are supported.")
    cur.sp()
    cur.expect(b"(")
    uidvalidity = cur.nz_number()
    cur.sp()
    modseq = cur.number(limits.MAX_NUMBER64)
    known = None
    seq_match = None
    if cur.more():
        if cur.peek() != 0x28:
            known = cur.sequence_set(saved=False)
            cur.skip_spaces()
        if cur.take(b"("):
            seqs = cur.sequence_set(saved=False)
            cur.sp()
            uids = cur.sequence_set(saved=False)
            cur.expect(b")")
            seq_match = (seqs, uids)
    cur.skip_spaces()
    cur.expect(b")")
    return QResync(uidvalidity, modseq, known, seq_match)


# -- mailbox management ------------------------------------------------------------------------------


def _one_mailbox(cls: Callable[[str, str], Command]) -> Callable[[Cursor], Command]:
    def parse_one(cur: Cursor) -> Command:
        cur.sp()
        mailbox = cur.mailbox()
        cur.end()
        return cls(cur.tag, mailbox)

    return parse_one


def parse_create(cur: Cursor) -> Create:
    """CREATE mailbox [(USE (\\Sent ...))] (RFC 6154 §3)."""
    cur.sp()
    mailbox = cur.mailbox()
    uses: list[str] = []
    if cur.more():
        cur.expect(b"(")
        if cur.keyword() != "USE":
            cur.fail()
        cur.sp()
        uses = cur.paren_list(lambda: _special_use(cur))
        cur.expect(b")")
    cur.end()
    return Create(cur.tag, mailbox, tuple(dict.fromkeys(uses)))


def _special_use(cur: Cursor) -> str:
    cur.expect(b"\\")
    use = SPECIAL_USES.get("\\" + cur.keyword())
    if use is None:
        cur.fail()
    return use


def parse_rename(cur: Cursor) -> Rename:
    cur.sp()
    old = cur.mailbox()
    cur.sp()
    new = cur.mailbox()
    cur.end()
    return Rename(cur.tag, old, new)


# -- LIST / LSUB / XLIST (RFC 9051 §6.3.9, RFC 5258, RFC 5819) -----------------------------------------


def parse_list(cur: Cursor) -> List:
    cur.sp()
    selection: tuple[str, ...] = ()
    extended = False
    if cur.peek() == 0x28:
        selection = tuple(dict.fromkeys(cur.paren_list(cur.keyword)))
        if not LIST_SELECTION.issuperset(selection) or selection == ("RECURSIVEMATCH",):
            cur.fail("A LIST selection option is not supported.")  # RFC 5258 §3: BAD
        extended = True
        cur.sp()
    reference = cur.list_mailbox()
    cur.sp()
    if cur.peek() == 0x28:
        patterns = tuple(cur.paren_list(cur.list_mailbox, empty=False))
        if len(patterns) > limits.MAX_LIST_PATTERNS:
            cur.fail(f"A LIST command may carry at most {limits.MAX_LIST_PATTERNS} patterns.")
        extended = True
    else:
        patterns = (cur.list_mailbox(),)
    returns: list[str] = []
    status_items: tuple[str, ...] | None = None
    if cur.more():
        if cur.keyword() != "RETURN":
            cur.fail()
        cur.sp()
        for option in cur.paren_list(lambda: _list_return(cur)):
            if isinstance(option, tuple):
                status_items = option
            else:
                returns.append(option)
        extended = True
    cur.end()
    return List(
        cur.tag, reference, patterns, selection, tuple(dict.fromkeys(returns)), status_items, extended
    )


def _list_return(cur: Cursor) -> str | tuple[str, ...]:
    option = cur.keyword()
    if option == "STATUS":
        cur.sp()
        return _status_items(cur)
    if option not in LIST_RETURNS:
        cur.fail("A LIST return option is not supported.")
    return option


def parse_lsub(cur: Cursor) -> Lsub:
    reference, pattern = _reference_and_pattern(cur)
    return Lsub(cur.tag, reference, pattern)


def parse_xlist(cur: Cursor) -> Xlist:
    reference, pattern = _reference_and_pattern(cur)
    return Xlist(cur.tag, reference, pattern)


def _reference_and_pattern(cur: Cursor) -> tuple[str, str]:
    cur.sp()
    reference = cur.list_mailbox()
    cur.sp()
    pattern = cur.list_mailbox()
    cur.end()
    return reference, pattern


# -- STATUS (RFC 9051 §6.3.11) -----------------------------------------------------------------------


def parse_status(cur: Cursor) -> Status:
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    items = _status_items(cur)
    cur.end()
    return Status(cur.tag, mailbox, items)


def _status_items(cur: Cursor) -> tuple[str, ...]:
    items = tuple(dict.fromkeys(cur.paren_list(cur.keyword, empty=False)))
    if not STATUS_ITEMS.issuperset(items):
        cur.fail("A STATUS item is not supported.")
    return items


# -- QUOTA (RFC 9208) and ACL (RFC 4314) -------------------------------------------------------------


def parse_getquota(cur: Cursor) -> GetQuota:
    cur.sp()
    root = _text(cur, cur.astring())
    cur.end()
    return GetQuota(cur.tag, root)


def parse_setquota(cur: Cursor) -> SetQuota:
    """SETQUOTA root (resource limit ...)."""
    cur.sp()
    root = _text(cur, cur.astring())
    cur.sp()
    limits_list = cur.paren_list(lambda: _quota_limit(cur))
    cur.end()
    return SetQuota(cur.tag, root, tuple(limits_list))


def _quota_limit(cur: Cursor) -> tuple[str, int]:
    resource = cur.keyword()
    cur.sp()
    return resource, cur.number(limits.MAX_NUMBER64)


def _mailbox_and_identifier(cur: Cursor) -> tuple[str, str]:
    cur.sp()
    mailbox = cur.mailbox()
    cur.sp()
    identifier = _text(cur, cur.astring())
    return mailbox, identifier


def parse_setacl(cur: Cursor) -> SetAcl:
    mailbox, identifier = _mailbox_and_identifier(cur)
    cur.sp()
    rights = cur.astring()
    cur.end()
    if not rights.isascii():
        cur.fail()
    return SetAcl(cur.tag, mailbox, identifier, rights.decode("ascii"))


def parse_deleteacl(cur: Cursor) -> DeleteAcl:
    mailbox, identifier = _mailbox_and_identifier(cur)
    cur.end()
    return DeleteAcl(cur.tag, mailbox, identifier)


def parse_listrights(cur: Cursor) -> ListRights:
    mailbox, identifier = _mailbox_and_identifier(cur)
    cur.end()
    return ListRights(cur.tag, mailbox, identifier)


Entry = tuple[Callable[[Cursor], Command], str]

COMMANDS: dict[str, Entry] = {
    "SELECT": (parse_select, "SELECT needs a mailbox name and optional (CONDSTORE) or (QRESYNC ...)."),
    "EXAMINE": (parse_examine, "EXAMINE needs a mailbox name and optional (CONDSTORE) or (QRESYNC ...)."),
    "CREATE": (parse_create, "CREATE needs a mailbox name."),
    "DELETE": (_one_mailbox(Delete), "DELETE needs a mailbox name."),
    "RENAME": (parse_rename, "RENAME needs the old and the new mailbox name."),
    "SUBSCRIBE": (_one_mailbox(Subscribe), "SUBSCRIBE needs a mailbox name."),
    "UNSUBSCRIBE": (_one_mailbox(Unsubscribe), "UNSUBSCRIBE needs a mailbox name."),
    "LIST": (parse_list, "LIST needs a reference and a mailbox pattern."),
    "LSUB": (parse_lsub, "LSUB needs a reference and a mailbox pattern."),
    "XLIST": (parse_xlist, "XLIST needs a reference and a mailbox pattern."),
    "STATUS": (parse_status, "STATUS needs a mailbox name and a list of status items."),
    "GETQUOTAROOT": (_one_mailbox(GetQuotaRoot), "GETQUOTAROOT needs a mailbox name."),
    "GETQUOTA": (parse_getquota, "GETQUOTA needs a quota root."),
    "SETQUOTA": (parse_setquota, "SETQUOTA needs a quota root and a list of resource limits."),
    "MYRIGHTS": (_one_mailbox(MyRights), "MYRIGHTS needs a mailbox name."),
    "GETACL": (_one_mailbox(GetAcl), "GETACL needs a mailbox name."),
    "SETACL": (parse_setacl, "SETACL needs a mailbox name, an identifier and rights."),
    "DELETEACL": (parse_deleteacl, "DELETEACL needs a mailbox name and an identifier."),
    "LISTRIGHTS": (parse_listrights, "LISTRIGHTS needs a mailbox name and an identifier."),
}

"""Every command in every state (mox's habit): the answer is the one the dispatch table
(imapd.dispatch, via each handler's `states`) says, BAD outside its states, never a crash.

Each (state, command) pair gets a fresh connection, so one command's effect (a SELECT, a
LOGOUT, COMPRESS) or the bad-command limit never changes what the next pair sees."""

from __future__ import annotations

import base64

import pytest

from imapd import parser
from imapd.dispatch import HANDLERS, State
from tests.imapd.wire import Wire

pytestmark = pytest.mark.django_db(transaction=True)

_WRONG_PLAIN = base64.b64encode(b"\0me\0mk_imap_wrong").decode()

# (command, status when its state allows it)
COMMANDS = [
    ("CAPABILITY", "OK"),
    ("NOOP", "OK"),
    ("LOGOUT", "OK"),
    ('ID ("name" "matrix")', "OK"),
    ("ENABLE CONDSTORE", "OK"),
    ("COMPRESS DEFLATE", "OK"),
    ("LOGIN me mk_imap_wrong", "NO"),
    (f"AUTHENTICATE PLAIN {_WRONG_PLAIN}", "NO"),
    ("NAMESPACE", "OK"),
    ("IDLE", "OK"),
    ("SELECT INBOX", "OK"),
    ("EXAMINE Sent", "OK"),
    ("SELECT Trash", "NO"),
    ("CREATE Trash", "NO"),
    ("DELETE Sent", "NO"),
    ("RENAME Sent Old", "NO"),
    ("SUBSCRIBE INBOX", "OK"),
    ("UNSUBSCRIBE INBOX", "OK"),
    ('LIST "" "*"', "OK"),
    ('LIST (SPECIAL-USE) "" "*" RETURN (STATUS (MESSAGES))', "OK"),
    ('LSUB "" "*"', "OK"),
    ('XLIST "" "*"', "OK"),
    ("STATUS INBOX (MESSAGES HIGHESTMODSEQ)", "OK"),
    ("APPEND INBOX {3}", "NO"),
    ("GETQUOTAROOT INBOX", "OK"),
    ('GETQUOTA ""', "OK"),
    ('SETQUOTA "" (STORAGE 1)', "NO"),
    ("MYRIGHTS INBOX", "OK"),
    ("GETACL INBOX", "OK"),
    ("SETACL INBOX bob lr", "NO"),
    ("DELETEACL INBOX bob", "NO"),
    ("LISTRIGHTS INBOX bob", "OK"),
    ("CHECK", "OK"),
    ("CLOSE", "OK"),
    ("UNSELECT", "OK"),
    ("EXPUNGE", "OK"),
    ("UID EXPUNGE 1:*", "OK"),
    ("SEARCH ALL", "OK"),
    ("UID SEARCH RETURN (SAVE) ALL", "OK"),
    ("SORT (DATE) UTF-8 ALL", "OK"),
    ("UID SORT (REVERSE ARRIVAL) UTF-8 ALL", "OK"),
    ("THREAD REFERENCES UTF-8 ALL", "OK"),
    ("UID THREAD ORDEREDSUBJECT UTF-8 ALL", "OK"),
    ("FETCH 1:* (FLAGS MODSEQ)", "OK"),
    ("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 0)", "OK"),
    ("STORE 1 +FLAGS (\\Seen)", "OK"),
    ("UID STORE 1 (UNCHANGEDSINCE 1) +FLAGS (\\Seen)", "OK"),
    ("COPY 1 Sent", "NO"),
    ("UID COPY 1 Sent", "NO"),
    ("MOVE 1 Sent", "NO"),
    ("UID MOVE 1 Sent", "NO"),
]
UNKNOWN = ["STARTTLS", "XYZZY", "UID XYZZY 1"]


def allowed(command: str, state: State) -> bool:
    """What the dispatch table says about this command in this state."""
    line = command.removesuffix(" {3}").encode()
    parsed = (
        parser.parse_append_prefix(b"m " + line + b" {3}")
        if command.startswith("APPEND")
        else parser.parse(b"m " + line)
    )
    return state in HANDLERS[type(parsed)][1]


def open_in(state: State, connect, password: str) -> Wire:
    wire = Wire(connect())
    if state is not State.NOT_AUTHENTICATED:
        wire.login(password)
    if state is State.SELECTED:
        wire.ok("s0 SELECT INBOX")
    return wire


def answer(wire: Wire, command: str) -> bytes:
    if command == "IDLE":
        wire.send("m IDLE")
        first = wire.response()
        if first.startswith(b"m "):
            return first
        assert first == b"+ idling"
        wire.send("DONE")
    else:
        wire.send("m " + command)
    while not (line := wire.response()).startswith(b"m "):
        pass
    return line


@pytest.mark.parametrize(
    "state", [State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED], ids=lambda s: s.name
)
def test_every_command_in_every_state(connect, account, demo_mail, state):
    for command, status in COMMANDS:
        wire = open_in(state, connect, account.password)
        expected = status if allowed(command, state) else "BAD"
        tagged = answer(wire, command)
        assert tagged.split(b" ")[1] == expected.encode(), (state, command, tagged)
        assert b"SERVERBUG" not in tagged
        if command not in ("LOGOUT", "COMPRESS DEFLATE") or expected == "BAD":
            assert wire.ok("n1 NOOP") is not None  # the connection is still fine
    for command in UNKNOWN:
        wire = open_in(state, connect, account.password)
        assert answer(wire, command).startswith(b"m BAD ")


def test_an_oversized_append_without_a_valid_tag_is_bad(wire):
    # Found by the fuzzer (issue 10): the refusal of the upload went out as "* NO [CANNOT]".
    wire.send(b"a\x00 APPEND INBOX {5000+}\r\n" + b"x" * 5000)
    assert wire.response().startswith(b"* BAD ")
    wire.send(b"b1 APPEND INBOX {5000+}\r\n" + b"x" * 5000)
    assert wire.response().startswith(b"b1 NO [CANNOT] ")
    assert wire.ok("b2 NOOP") == []

"""The command framer: pipelining, stray CRLFs, literals, limits, chunk boundaries (RFC 9051 §4.3,
RFC 7888, IMAP-NOTES 22). Each case is one stream in, the events out."""

from __future__ import annotations

import random

import pytest

from imapd.reader import CommandReader, Complete, Event, LineTooLong, LiteralPending, TooLarge

A = "A non-synchronizing literal may be at most 4096 octets."
LINE = "The command line is too long."
COMMAND = "The command is too long."
LITERAL = "The literal is too large."
MANY = "The command has too many literals."


def drain(reader: CommandReader, *, accept: bool = True) -> list[Event]:
    """Every event the buffered bytes give; synchronising literals are accepted (or rejected)."""
    events: list[Event] = []
    while (event := reader.next_event()) is not None:
        events.append(event)
        if isinstance(event, LiteralPending):
            reader.accept_literal() if accept else reader.reject_literal()
    return events


def run(stream: bytes, chunks: list[int] | None = None, /, **limits: int) -> list[Event]:
    reader = CommandReader(**limits)
    events: list[Event] = []
    pos = 0
    for size in chunks or [len(stream)]:
        reader.feed(stream[pos : pos + size])
        pos += size
        events += drain(reader)
    reader.feed(stream[pos:])
    return events + drain(reader)


STREAMS = [
    ("one", b"a1 NOOP\r\n", [Complete(b"a1 NOOP")]),
    ("no-line-end-yet", b"a1 NOOP", []),
    (
        "pipelined-ios",
        b'A3 NAMESPACE\r\nA4 LIST "" "*"\r\n',
        [Complete(b"A3 NAMESPACE"), Complete(b'A4 LIST "" "*"')],
    ),
    ("stray-crlf-ios", b"\r\nB41 UID MOVE 1 Sent\r\n\r\n\r\n", [Complete(b"B41 UID MOVE 1 Sent")]),
    ("blank-line-with-spaces", b"  \r\na NOOP\r\n", [Complete(b"a NOOP")]),
    ("bare-lf", b"a NOOP\nb CHECK\r\n", [Complete(b"a NOOP"), Complete(b"b CHECK")]),
    (
        "nonsync-literals",
        b"a LOGIN {4+}\r\nfred {6+}\r\nsecret\r\nb NOOP\r\n",
        [Complete(b"a LOGIN {4+}\r\nfred {6+}\r\nsecret"), Complete(b"b NOOP")],
    ),
    ("nonsync-literal-bare-lf", b"a LOGIN {4+}\nfred x\n", [Complete(b"a LOGIN {4+}\r\nfred x")]),
    (
        "literal-holding-crlf-and-marker",
        b"a X {7+}\r\nab\r\n{1}\r\nb NOOP\r\n",
        [Complete(b"a X {7+}\r\nab\r\n{1}"), Complete(b"b NOOP")],
    ),
    ("empty-literal", b"a LOGIN {0+}\r\n x\r\n", [Complete(b"a LOGIN {0+}\r\n x")]),
    (
        "sync-literal-accepted",
        b"a LOGIN {4}\r\nfred pw\r\n",
        [LiteralPending(b"a LOGIN {4}", 4, "a"), Complete(b"a LOGIN {4}\r\nfred pw")],
    ),
    (
        "two-sync-literals",
        b"t LOGIN {1}\r\nu {2}\r\npw\r\n",
        [
            LiteralPending(b"t LOGIN {1}", 1, "t"),
            LiteralPending(b"t LOGIN {1}\r\nu {2}", 2, "t"),
            Complete(b"t LOGIN {1}\r\nu {2}\r\npw"),
        ],
    ),
    ("literal8-marker", b"a APPEND INBOX ~{3+}\r\nabc\r\n", [Complete(b"a APPEND INBOX ~{3+}\r\nabc")]),
    ("no-tag", b"+FOO {2}\r\n", [LiteralPending(b"+FOO {2}", 2, None)]),
]


@pytest.mark.parametrize(("stream", "expected"), [s[1:] for s in STREAMS], ids=[s[0] for s in STREAMS])
def test_stream(stream: bytes, expected: list[Event]) -> None:
    assert run(stream) == expected


PIPELINE = b"".join(s[1] for s in STREAMS[:-1])
PIPELINE_EVENTS = run(PIPELINE)


def test_pipeline_byte_by_byte() -> None:
    assert run(PIPELINE, [1] * len(PIPELINE)) == PIPELINE_EVENTS


@pytest.mark.parametrize("seed", range(20))
def test_pipeline_random_splits(seed: int) -> None:
    rng = random.Random(seed)
    chunks = [rng.randint(1, 12) for _ in range(len(PIPELINE))]
    assert run(PIPELINE, chunks) == PIPELINE_EVENTS


@pytest.mark.parametrize("cut", range(1, 40))
def test_every_two_way_split(cut: int) -> None:
    stream = b"a LOGIN {4+}\r\nfred {2}\r\npw\r\n\r\nb NOOP\r\n"
    assert run(stream, [cut]) == run(stream)


# -- limits: one TooLarge, the rest of that command discarded, the next command intact ---------------

LIMITS = [
    (
        "line",
        b"a1 SEARCH " + b"x" * 60 + b"\r\nb NOOP\r\n",
        {"max_line": 50},
        [TooLarge("a1", LINE, "SEARCH")],
    ),
    ("line-no-tag", b"x" * 60 + b"\r\nb NOOP\r\n", {"max_line": 50}, [TooLarge(None, LINE)]),
    (
        "nonsync-over-4096-rfc7888",
        b"a LOGIN {5000+}\r\n" + b"x" * 4990 + b"\r\nc NOOP\r\n" + b" y\r\nb NOOP\r\n",
        {},
        [TooLarge("a", A, "LOGIN")],
    ),
    (
        "nonsync-then-more-nonsync-skipped",
        b"a LOGIN {5000+}\r\n" + b"x" * 5000 + b" {3+}\r\nabc\r\nb NOOP\r\n",
        {},
        [TooLarge("a", A, "LOGIN")],
    ),
    ("sync-literal-too-large", b"a LOGIN {70000}\r\nb NOOP\r\n", {}, [TooLarge("a", LITERAL, "LOGIN")]),
    (
        "append-too-large-names-command",
        b"a APPEND INBOX {9999999}\r\nb NOOP\r\n",
        {},
        [TooLarge("a", LITERAL, "APPEND")],
    ),
    (
        "command-too-long",
        b"a X {30+}\r\n" + b"y" * 30 + b" {30+}\r\n" + b"z" * 30 + b"\r\nb NOOP\r\n",
        {"max_command": 64},
        [TooLarge("a", COMMAND, "X")],
    ),
    (
        "too-many-literals",
        b"a X {1+}\r\n1 {1+}\r\n2 {1+}\r\n3\r\nb NOOP\r\n",
        {"max_literals": 2},
        [TooLarge("a", MANY, "X")],
    ),
    (
        "long-line-ending-in-nonsync-literal",
        b"a X " + b"x" * 60 + b" {5+}\r\nhello\r\nb NOOP\r\n",
        {"max_line": 50},
        [TooLarge("a", LINE, "X")],
    ),
    (
        "long-line-ending-in-sync-literal",
        b"a X " + b"x" * 60 + b" {5}\r\nb NOOP\r\n",
        {"max_line": 50},
        [TooLarge("a", LINE, "X")],
    ),
    (
        "long-continuation-line",
        b"a X {1+}\r\n1 " + b"x" * 60 + b"\r\nb NOOP\r\n",
        {"max_line": 50},
        [TooLarge("a", LINE, "X")],
    ),
]


@pytest.mark.parametrize(
    ("stream", "limits", "expected"), [case[1:] for case in LIMITS], ids=[case[0] for case in LIMITS]
)
def test_limit(stream: bytes, limits: dict[str, int], expected: list[Event]) -> None:
    assert run(stream, **limits) == [*expected, Complete(b"b NOOP")]
    assert run(stream, [1] * len(stream), **limits) == [*expected, Complete(b"b NOOP")]


def test_long_line_refused_before_its_end() -> None:
    """The BAD goes out while the client is still sending, and memory stays bounded."""
    reader = CommandReader(max_line=100)
    reader.feed(b"a1 SEARCH " + b"x" * 200)
    assert reader.next_event() == TooLarge("a1", LINE, "SEARCH")
    for _ in range(100):
        reader.feed(b"x" * 1000)
        assert reader.next_event() is None
    reader.feed(b"\r\nb NOOP\r\n")
    assert reader.next_event() == Complete(b"b NOOP")


def test_literal_octets_are_never_commands() -> None:
    """RFC 7888 §5: a refused non-synchronising literal is read and dropped, not executed."""
    payload = b"x\r\nevil LOGOUT\r\n".ljust(4097, b"z")
    events = run(b"a LOGIN {4097+}\r\n" + payload + b"\r\nb NOOP\r\n")
    assert events == [TooLarge("a", A, "LOGIN"), Complete(b"b NOOP")]


# -- synchronising literals: the caller decides ------------------------------------------------------


def test_reject_literal_abandons_the_command() -> None:
    reader = CommandReader()
    reader.feed(b"a APPEND Sent {310}\r\nb NOOP\r\n")
    assert reader.next_event() == LiteralPending(b"a APPEND Sent {310}", 310, "a")
    reader.reject_literal()
    assert reader.next_event() == Complete(b"b NOOP")
    assert reader.next_event() is None


def test_accept_literal_waits_for_the_octets() -> None:
    reader = CommandReader()
    reader.feed(b"a LOGIN {4}\r\n")
    assert reader.next_event() == LiteralPending(b"a LOGIN {4}", 4, "a")
    reader.accept_literal()
    assert reader.next_event() is None
    reader.feed(b"fr")
    assert reader.next_event() is None
    reader.feed(b"ed pw\r\n")
    assert reader.next_event() == Complete(b"a LOGIN {4}\r\nfred pw")


def test_decision_is_required() -> None:
    reader = CommandReader()
    reader.feed(b"a LOGIN {4}\r\n")
    reader.next_event()
    with pytest.raises(RuntimeError):
        reader.next_event()
    reader.reject_literal()
    with pytest.raises(RuntimeError):
        reader.accept_literal()


# -- continuation lines (AUTHENTICATE, IDLE) ---------------------------------------------------------


def test_read_line() -> None:
    reader = CommandReader()
    reader.feed(b"a AUTHENTICATE PLAIN\r\nAGZy")
    assert reader.next_event() == Complete(b"a AUTHENTICATE PLAIN")
    assert reader.read_line() is None
    reader.feed(b"ZWQAcHc=\r\n\r\nDONE\nb NOOP\r\n")
    assert reader.read_line() == b"AGZyZWQAcHc="
    assert reader.read_line() == b""  # an empty continuation answer is data, not a stray CRLF
    assert reader.read_line() == b"DONE"
    assert reader.next_event() == Complete(b"b NOOP")


def test_read_line_too_long() -> None:
    reader = CommandReader(max_line=10)
    reader.feed(b"x" * 20)
    with pytest.raises(LineTooLong):
        reader.read_line()
    reader.feed(b"xx {5+}\r\nDONE\r\n")  # no literal is skipped after a continuation line
    assert reader.read_line() == b"DONE"


def test_read_line_whole_line_too_long() -> None:
    reader = CommandReader(max_line=10)
    reader.feed(b"x" * 20 + b"\r\nDONE\r\n")
    with pytest.raises(LineTooLong):
        reader.read_line()
    assert reader.read_line() == b"DONE"

"""Property tests: whatever bytes arrive, the reader yields events and the parser a command or a
clean ParseError, never another exception (STYLE.md "Tests that read like the protocol")."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imapd import command as c
from imapd.parser import ParseError, parse, parse_append_prefix
from imapd.reader import CommandReader, Complete, Event, LiteralPending, TooLarge

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Pieces of real commands, so that random joins reach deep into the parsers.
# fmt: off
TOKENS = [
    b"a1", b"*", b" ", b"  ", b"\r\n", b"\n", b"(", b")", b"[", b"]", b"<", b">", b".", b"{", b"}", b"+",
    b"~", b'"', b"\\", b"$", b"%", b"1", b"0", b"2:4", b"1:*", b"4294967296", b"99999999999999999999999",
    b"UID", b"FETCH", b"STORE", b"SEARCH", b"SORT", b"THREAD", b"COPY", b"MOVE", b"EXPUNGE", b"APPEND",
    b"LOGIN", b"AUTHENTICATE", b"SELECT", b"EXAMINE", b"LIST", b"LSUB", b"XLIST", b"STATUS", b"ID",
    b"ENABLE", b"CREATE", b"RENAME", b"SETACL", b"SETQUOTA", b"GETQUOTA", b"NIL", b"RETURN", b"CHARSET",
    b"UTF-8", b"BODY", b"BODY.PEEK", b"BINARY", b"BINARY.SIZE", b"HEADER", b"HEADER.FIELDS",
    b"HEADER.FIELDS.NOT", b"TEXT", b"MIME", b"FLAGS", b"+FLAGS.SILENT", b"\\Seen", b"\\Recent", b"$Junk",
    b"OR", b"NOT", b"ALL", b"SINCE", b"1-Feb-2024", b'"1-Feb-2024 10:00:00 +0100"', b"MODSEQ",
    b"CHANGEDSINCE", b"VANISHED", b"UNCHANGEDSINCE", b"QRESYNC", b"CONDSTORE", b"REVERSE", b"DATE",
    b"REFERENCES", b"INBOX", b"&ZeVnLIqe-", b"&", b"{3}\r\nabc", b"{3+}\r\nabc", b"{9}\r\nab", b"~{1}\r\nx",
    b"\xc3\xa9", b"\xff", b"\x00", b"=",
]
# fmt: on

command_bytes = st.lists(st.sampled_from(TOKENS), max_size=30).map(b"".join)


def outcome(data: bytes) -> c.Command | ParseError:
    try:
        return parse(data)
    except ParseError as error:
        assert error.text.endswith(".") and "\n" not in error.text
        return error


def feed_all(chunks: list[bytes], decisions: list[bool], **limits: int) -> list[Event]:
    reader = CommandReader(**limits)
    events: list[Event] = []
    choice = iter(decisions * 50)
    for chunk in chunks:
        reader.feed(chunk)
        while (event := reader.next_event()) is not None:
            events.append(event)
            if isinstance(event, LiteralPending):
                reader.accept_literal() if next(choice, True) else reader.reject_literal()
    return events


@FAST
@given(st.lists(st.binary(max_size=64), max_size=20), st.lists(st.booleans(), min_size=1, max_size=5))
def test_arbitrary_bytes_through_reader_and_parser(chunks: list[bytes], decisions: list[bool]) -> None:
    for event in feed_all(chunks, decisions, max_line=40, max_literal=30, max_command=120, max_literals=3):
        assert isinstance(event, Complete | LiteralPending | TooLarge)
        if isinstance(event, Complete):
            assert len(event.data) <= 120
            outcome(event.data)
        elif isinstance(event, LiteralPending):
            try:
                parse_append_prefix(event.prefix)
            except ParseError:
                pass


@FAST
@given(command_bytes)
def test_token_soup_parses_or_fails_cleanly(data: bytes) -> None:
    outcome(data)
    outcome(b"a1 " + data)
    outcome(b"a1 UID " + data)


@FAST
@given(
    st.sampled_from([b"FETCH 1 ", b"SEARCH ", b"STORE 1 ", b"LIST ", b"SELECT ", b"APPEND x ", b"ID "]),
    command_bytes,
)
def test_command_with_random_arguments(name: bytes, rest: bytes) -> None:
    outcome(b"t " + name + rest)


@FAST
@given(command_bytes, st.data())
def test_chunking_never_changes_the_events(stream: bytes, data: st.DataObject) -> None:
    stream = stream + b"\r\nz NOOP\r\n"
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    chunks = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    limits = {"max_line": 50, "max_literal": 20, "max_command": 200}
    assert feed_all(chunks, [True], **limits) == feed_all([stream], [True], **limits)
    assert feed_all([bytes([b]) for b in stream], [True], **limits) == feed_all([stream], [True], **limits)


# -- sequence sets ---------------------------------------------------------------------------------------

number = st.one_of(st.none(), st.integers(1, 2**32 - 1), st.integers(1, 20))
sequence_sets = st.lists(st.tuples(number, number), min_size=1, max_size=8).map(
    lambda ranges: c.SequenceSet(tuple(ranges))
)


@FAST
@given(sequence_sets)
def test_sequence_set_round_trip(seq: c.SequenceSet) -> None:
    parsed = parse(b"a FETCH " + str(seq).encode() + b" FLAGS")
    assert isinstance(parsed, c.Fetch)
    assert parsed.sequence == seq
    assert str(parsed.sequence) == str(seq)


@FAST
@given(sequence_sets, st.integers(0, 30))
def test_sequence_set_resolve_is_normalised(seq: c.SequenceSet, largest: int) -> None:
    resolved = seq.resolve(largest)
    for low, high in resolved:
        assert 1 <= low <= high <= largest
    for (_, high), (low, _) in itertools.pairwise(resolved):
        assert high + 1 < low  # sorted, disjoint and not even adjacent (merged)
    members = {n for low, high in resolved for n in range(low, high + 1)}
    for n in range(0, largest + 2):
        assert seq.contains(n, largest) == (n in members)
    if largest and any(None in r for r in seq.ranges):
        assert largest in members  # "*" always means the largest number in use


@FAST
@given(sequence_sets)
def test_uid_search_takes_the_same_sets(seq: c.SequenceSet) -> None:
    parsed = parse(b"a UID SEARCH UID " + str(seq).encode())
    assert isinstance(parsed, c.Search)
    assert parsed.key == c.SearchUid(seq)

"""SEARCH answers (RFC 9051 §6.4.4): charsets, ESEARCH (RFC 4731), SEARCHRES `$` (RFC 5182)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_unknown_charset_is_no_badcharset(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    text = wire.no("q1 SEARCH CHARSET KOI8-R SUBJECT x", code="BADCHARSET (US-ASCII UTF-8)")  # §6.4.4
    assert b"use US-ASCII or UTF-8" in text
    assert wire.ok("q2 SEARCH CHARSET UTF-8 ALL") == [b"* SEARCH 1 2 3 4 5 6 7 8 9 10"]


def test_an_unknown_command_is_bad_with_a_sentence(wire):
    assert wire.bad("x1 FROBNICATE") == b"x1 BAD The command is not known."
    assert wire.bad("x2 UID FROBNICATE").startswith(b"x2 BAD UID must be followed by")


def test_esearch_and_saved_results(wire, demo_mail):
    wire.ok("s1 SELECT INBOX")
    assert wire.ok("q1 SEARCH RETURN (MIN MAX COUNT) ALL") == [
        b'* ESEARCH (TAG "q1") MIN 1 MAX 10 COUNT 10'
    ]  # RFC 4731
    assert wire.ok("q2 UID SEARCH RETURN () 2:4") == [b'* ESEARCH (TAG "q2") UID ALL 2:4']
    assert wire.ok("q3 SEARCH RETURN (SAVE) 3:4") == []  # RFC 5182 §2.1: SAVE alone answers nothing
    assert wire.ok("f1 FETCH $ (UID)") == [b"* 3 FETCH (UID 3)", b"* 4 FETCH (UID 4)"]  # RFC 5182 §2.3
    assert wire.ok("t1 STORE $ +FLAGS (\\Flagged)") == [
        b"* 3 FETCH (FLAGS (\\Flagged))",
        b"* 4 FETCH (FLAGS (\\Flagged))",
    ]
    assert wire.ok("q4 SEARCH $ FLAGGED") == [b"* SEARCH 3 4"]
    assert wire.ok("f2 UID FETCH $ (FLAGS)") == [
        b"* 3 FETCH (UID 3 FLAGS (\\Flagged))",
        b"* 4 FETCH (UID 4 FLAGS (\\Flagged))",
    ]


def test_the_last_day_python_holds_is_refused_in_words(wire, demo_mail):
    # The day after 31-Dec-9999 overflowed (issue 10): NO [SERVERBUG] and a traceback in the log.
    # A search on a day also needs the next one, so the last day is out of range: BAD in words.
    wire.ok("s1 SELECT INBOX")
    for key in ("SINCE", "ON", "BEFORE", "SENTSINCE", "SENTON", "SENTBEFORE"):
        assert wire.bad(f"q1 SEARCH {key} 31-Dec-9999") == (
            b"q1 BAD A date in the command is out of range (1-Jan-0001 to 30-Dec-9999)."
        )
    assert wire.ok("q2 SEARCH BEFORE 30-Dec-9999") == [b"* SEARCH 1 2 3 4 5 6 7 8 9 10"]
    assert wire.ok("q3 SEARCH OR ON 30-Dec-9999 SENTON 30-Dec-9999") == [b"* SEARCH"]

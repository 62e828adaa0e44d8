"""Issue 10, "One LIST freezes a worker": LIST patterns built to make a backtracking matcher
explode (`LIST "" "<85 × *>Z"` took 7.8 s) must answer in well under 50 ms, and must not hold up
another user's commands, even with the most patterns and the longest line the server accepts."""

from __future__ import annotations

import pytest

from imapd import limits
from tests.adversarial.stream_helpers import logged_in, median_seconds, timed

pytestmark = pytest.mark.django_db(transaction=True)

WORST = "*" * 85 + "Z"  # no folder ends in Z: a backtracking matcher tries every split


def _biggest_list() -> str:
    """LIST with a wildcard reference and the most patterns, the whole filling the line limit."""
    reference = "%*" * 500
    room = limits.MAX_LINE - len(reference) - 64
    size = room // limits.MAX_LIST_PATTERNS - 3
    patterns = [("*%" * size)[: size - 1] + "Z" for _ in range(limits.MAX_LIST_PATTERNS)]
    line = f'L2 LIST "{reference}" (' + " ".join(f'"{p}"' for p in patterns) + ")"
    assert len(line) <= limits.MAX_LINE
    return line


def test_worst_case_list_answers_in_under_50_ms(connect, account):
    wire = logged_in(connect, account.password)
    assert median_seconds(lambda: wire.ok(f'L1 LIST "" "{WORST}"')) < 0.05
    line = _biggest_list()
    assert wire.ok(line) == []  # nothing matches, and the answer is a plain OK
    assert median_seconds(lambda: wire.ok(line)) < 0.05


def test_too_many_patterns_is_bad_in_words(connect, account):
    wire = logged_in(connect, account.password)
    patterns = " ".join(['"*"'] * (limits.MAX_LIST_PATTERNS + 1))
    assert b"at most 32 patterns" in wire.bad(f'L1 LIST "" ({patterns})')


def test_a_worst_case_list_does_not_delay_another_users_noop(connect, account):
    attacker = logged_in(connect, account.password)
    neighbour = logged_in(connect, account.password)
    line = f'L1 LIST "" "{WORST}"'  # one pattern: the code before issue 10 needed 7 s for it
    delays = []
    for _ in range(5):
        attacker.send(line)  # the server starts on it while the neighbour asks
        delays.append(timed(lambda: neighbour.ok("N1 NOOP")))
        attacker.response()
    delays.sort()
    assert delays[len(delays) // 2] < 0.1, delays

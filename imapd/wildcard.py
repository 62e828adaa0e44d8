"""LIST wildcard matching (RFC 9051 §6.3.9) without regular expressions or unbounded backtracking.

`*` matches any run of characters; `%` matches any run without the hierarchy delimiter "/". A
regular expression built from a pattern like `***…*Z` backtracks about n^k times (issue 10: 7.8 s
for one LIST, on the event loop). This is the classic greedy matcher instead, which keeps only
the most recent backtrack point of each kind.

Why backtracking to the last `*` is enough: a `*` can absorb anything, so once a later `*` has
matched, the earliest place the text before it could match is always the best one, and earlier
wildcards never need another try.

How `%` fits in: it also gets one backtrack point, valid only since the last `*`. On a mismatch
the `%` is extended by one character, unless that character is "/" (or the text has ended); then
no earlier `%` since the `*` can help either, so the `*` is extended instead. Two facts make that
sound. (1) Between two `%` with no "/" literal between them, both lie in one "/"-free stretch of
the text, where `%` behaves like `*`, so the same argument as for `*` applies. (2) When a "/"
literal matches after a `%`, it matched the first "/" at or after where that `%` started (the `%`
and the other literals cannot hold a "/"), and extending the `%` cannot move it; so that `%` has
nothing left to try and its point is dropped. tests/imapd/test_list.py checks this against the
regular-expression semantics it replaces.

Cost: the pattern is first reduced in linear time: each run of wildcards becomes one `*` (if it
holds one) or one `%`, and a pattern with more literal characters than the name cannot match at
all. What is left has at most 2n + 1 characters for a name of n characters, so a pattern of any
length costs one linear pass plus a matching cost that depends only on the name (INBOX or Sent).
"""

from __future__ import annotations

import re

DELIMITER = "/"
# Splits a pattern into literal characters and the wildcard runs between them. A character class
# with no alternatives: linear, it cannot backtrack.
_WILDCARD_RUNS = re.compile(r"([*%]+)")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def reduce(pattern: str) -> str:
    """The same pattern with each run of wildcards written as one: `*` if the run has a `*`
    (it absorbs what `%` would), else `%` (`%%` matches what `%` does)."""
    pieces = _WILDCARD_RUNS.split(pattern)
    for index in range(1, len(pieces), 2):
        pieces[index] = "*" if "*" in pieces[index] else "%"
    return "".join(pieces)


def literal_count(pattern: str) -> int:
    return len(pattern) - pattern.count("*") - pattern.count("%")


def matches(pattern: str, name: str, *, ignore_case: bool = False) -> bool:
    """Whether `name` matches the LIST `pattern`; `ignore_case` folds ASCII letters only (INBOX)."""
    if literal_count(pattern) > len(name):  # each literal consumes one character of the name
        return False
    pattern = reduce(pattern)
    if ignore_case:
        pattern = pattern.translate(_ASCII_LOWER)
        name = name.translate(_ASCII_LOWER)
    return _match(pattern, name)


def _match(pattern: str, text: str) -> bool:
    p = t = 0
    star_p = star_t = -1  # last `*`: its pattern index and the text index it has absorbed up to
    pct_p = pct_t = -1  # last `%` since that `*`, likewise; -1 when there is none
    while t < len(text):
        char = pattern[p] if p < len(pattern) else ""
        if char == "*":
            star_p, star_t = p, t
            pct_p = -1
            p += 1
        elif char == "%":
            pct_p, pct_t = p, t
            p += 1
        elif char and char == text[t]:
            if char == DELIMITER:
                pct_p = -1  # fact (2) in the module docstring
            p += 1
            t += 1
        elif pct_p >= 0 and text[pct_t] != DELIMITER:
            pct_t += 1  # the `%` absorbs one more character
            p, t = pct_p + 1, pct_t
        elif star_p >= 0:
            pct_p = -1
            star_t += 1  # the `*` absorbs one more character
            p, t = star_p + 1, star_t
        else:
            return False
    # The text is used up: what is left of the pattern must be able to match nothing.
    return all(char in "*%" for char in pattern[p:])

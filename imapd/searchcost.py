"""The cost caps of a SEARCH, SORT or THREAD key tree (imapd.limits), checked before it is compiled.

The parser already bounds nesting and each sequence set; what is left is how many keys a command
carries and how many of them are substring matches, the costly kind. Past a cap the command is
refused with NO [LIMIT] and a sentence, never run.
"""

from __future__ import annotations

from dataclasses import dataclass

from imapd import command as c
from imapd import limits
from imapd.responses import No

TOO_MANY_KEYS = f"The search has too many keys; at most {limits.MAX_SEARCH_KEYS} are allowed."
TOO_MANY_TEXT_KEYS = (
    f"The search has too many text keys (FROM, TO, CC, BCC, SUBJECT, HEADER, BODY, TEXT, KEYWORD); "
    f"at most {limits.MAX_SEARCH_TEXT_KEYS} are allowed."
)
_TEXT_KEYS = (c.SearchHeader, c.SearchBody, c.SearchText)


@dataclass
class Cost:
    keys: int = 0
    text_keys: int = 0


def cost(key: c.SearchKey) -> Cost:
    """Keys and text keys in the tree; the parser caps its depth, so recursion is safe."""
    found = Cost()
    _count(key, found)
    return found


def _count(key: c.SearchKey, found: Cost) -> None:
    if not isinstance(key, c.SearchAnd):  # a group costs nothing of its own
        found.keys += 1
    if isinstance(key, _TEXT_KEYS):
        found.text_keys += 1
    elif isinstance(key, c.SearchFlag) and not key.flag.startswith("\\"):
        found.text_keys += 1  # a keyword is a substring match on the message's keyword list
    elif isinstance(key, c.SearchAnd):
        for part in key.keys:
            _count(part, found)
    elif isinstance(key, c.SearchOr):
        _count(key.left, found)
        _count(key.right, found)
    elif isinstance(key, c.SearchNot):
        _count(key.key, found)


def check(key: c.SearchKey) -> None:
    """Raise No [LIMIT] when the key tree passes a cap of imapd.limits."""
    found = cost(key)
    if found.keys > limits.MAX_SEARCH_KEYS:
        raise No(TOO_MANY_KEYS, "LIMIT")
    if found.text_keys > limits.MAX_SEARCH_TEXT_KEYS:
        raise No(TOO_MANY_TEXT_KEYS, "LIMIT")

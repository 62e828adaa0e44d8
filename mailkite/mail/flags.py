"""System flags as bits of Message.flags; keywords live beside them as a list of atoms.

\\Deleted has no bit: a STORE of it is accepted and ignored (DESIGN §5), and \\Recent is not kept.
"""

from __future__ import annotations

SEEN = 1
ANSWERED = 2
FLAGGED = 4
DRAFT = 8

BITS: dict[str, int] = {"\\seen": SEEN, "\\answered": ANSWERED, "\\flagged": FLAGGED, "\\draft": DRAFT}
NAMES: tuple[tuple[int, str], ...] = (
    (SEEN, "\\Seen"),
    (ANSWERED, "\\Answered"),
    (FLAGGED, "\\Flagged"),
    (DRAFT, "\\Draft"),
)
PERMANENT = "\\Seen \\Flagged \\Answered \\Draft"


def names(bits: int) -> list[str]:
    """The system flag names set in `bits`, in a fixed order."""
    return [name for bit, name in NAMES if bits & bit]

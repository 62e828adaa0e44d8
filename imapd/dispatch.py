"""The state machine as data: which handler serves each command, and in which states.

Checked in one place (Session.execute), so a handler never needs to test the state itself.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from imapd.responses import Continuation, Done, Untagged

if TYPE_CHECKING:
    from imapd.session import Session


class State(enum.Enum):
    NOT_AUTHENTICATED = "not authenticated"
    AUTHENTICATED = "authenticated"
    SELECTED = "selected"
    LOGOUT = "logout"


ANY = frozenset({State.NOT_AUTHENTICATED, State.AUTHENTICATED, State.SELECTED})
NOT_AUTHENTICATED = frozenset({State.NOT_AUTHENTICATED})
AUTHENTICATED = frozenset({State.AUTHENTICATED, State.SELECTED})
SELECTED = frozenset({State.SELECTED})

Reply = Untagged | Continuation | Done
Handler = Callable[["Session", Any], AsyncIterator[Reply]]
HANDLERS: dict[type, tuple[Handler, frozenset[State]]] = {}


def handles(*commands: type, states: frozenset[State]) -> Callable[[Handler], Handler]:
    """Register a handler for command classes, allowed in `states`."""

    def register(handler: Handler) -> Handler:
        for command in commands:
            HANDLERS[command] = (handler, states)
        return handler

    return register

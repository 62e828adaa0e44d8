"""django-axes, counting wrong passwords two ways (sign-in and password re-entry alike):

- per username and address: AXES_FAILURE_LIMIT (5) cools that pair off;
- per address across every username: LOGIN_ADDRESS_FAILURE_LIMIT (20) cools the address off, so
  one address cannot try one password against many usernames (spraying).

axes counts several parameter sets but compares them all with one limit, so this handler reports
the address as over the limit only once its own, higher, threshold is reached. Both are cool-offs
(AXES_COOLOFF_TIME), never locks. A successful sign-in clears only its own username and address:
signing in to one's own account must not wipe the address's failures against others.
"""

from __future__ import annotations

from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_failure_limit
from django.conf import settings
from django.db.models import QuerySet, Sum


def _failures(attempts: QuerySet[Any]) -> int:
    total: int = attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
    return total


class PairAndAddressHandler(AxesDatabaseHandler):  # type: ignore[misc]
    """Needs AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"], in that order."""

    def get_failures(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        pair, address = self.get_user_attempts(request, credentials)
        failures = _failures(pair)
        if _failures(address) >= settings.MAILKITE.login_address_failure_limit:
            return max(failures, get_failure_limit(request, credentials))
        return failures

    def reset_user_attempts(self, request: Any, credentials: dict[str, Any] | None = None) -> int:
        pair = self.filter_user_attempts(request, credentials)[0]
        count, _ = pair.delete()
        return int(count)

"""Leaked credentials reported by a secret scanner: check each token, revoke the real ones, tell the owner.

The scanner (GitHub's secret-scanning partner program, or any scanner holding a key we trust) has
found strings shaped like our tokens in public; its signature was checked by the caller
(passwords/api/leak_reports.py). For each token:

- not our format, or a wrong checksum: false_positive, decided without the database;
- no credential with that key id, or the secret does not match its hash: false_positive. Key ids
  are public (dashboard, audit trail, emails), so a made-up secret behind a real key id must never
  revoke anyone's password: that would let anyone end a stranger's sessions by publishing one;
- the real secret of an active credential: revoked at once through the audited revoke path (live
  IMAP sessions get `* BYE`), the audit entry names the URL, the owner gets one email;
- the real secret of a credential already revoked: true_positive (it is ours and it did leak), but
  nothing more is written or sent: the owner already heard, or revoked it themselves.
"""

from __future__ import annotations

import hashlib
import logging
import smtplib
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from passwords import service, tokens
from passwords.models import ApiKey, AppPassword

log = logging.getLogger(__name__)

TRUE_POSITIVE = "true_positive"
FALSE_POSITIVE = "false_positive"
URL_MAX = 150  # on the audit trail, whose target column holds 200 characters with the label


@dataclass(frozen=True)
class Match:
    """One suspected token as the scanner reported it."""

    token: str
    type: str = ""
    url: str = ""
    source: str = ""


@dataclass(frozen=True)
class Verdict:
    token_hash: str  # SHA-256 hex of the token: the scanner's answer format never echoes the secret
    token_type: str
    label: str  # TRUE_POSITIVE or FALSE_POSITIVE

    def as_feedback(self) -> dict[str, str]:
        return {"token_hash": self.token_hash, "token_type": self.token_type, "label": self.label}


def handle_report(matches: list[Match], *, reporter_ip: str | None) -> list[Verdict]:
    """Judge and act on every match, in order; one verdict per match."""
    actor = service.leak_report(ip=reporter_ip)
    return [_handle(match, actor) for match in matches]


def _handle(match: Match, actor: service.Actor) -> Verdict:
    credential = _credential(match.token)
    if credential is not None:
        _revoke(credential, match, actor)  # already revoked: nothing is written or sent
    return Verdict(
        token_hash=hashlib.sha256(match.token.encode("utf-8")).hexdigest(),
        token_type=match.type,
        label=FALSE_POSITIVE if credential is None else TRUE_POSITIVE,
    )


def _credential(value: str) -> AppPassword | ApiKey | None:
    """The credential whose whole secret `value` is, active or not; None for anything else."""
    token = tokens.parse(value)  # shape and checksum: no database for random strings
    if token is None:
        return None
    model: type[AppPassword] | type[ApiKey] = AppPassword if token.kind == tokens.IMAP else ApiKey
    row = model.objects.select_related("owner").filter(key_id=token.key_id).first()
    if row is None or not service.matches_hash(row.hash, value):
        return None
    return row


def _where(match: Match) -> str:
    if not match.url:
        return "leaked in public"
    url = match.url if len(match.url) <= URL_MAX else match.url[: URL_MAX - 1] + "…"
    return f"leaked at {url}"


def _revoke(credential: AppPassword | ApiKey, match: Match, actor: service.Actor) -> None:
    if isinstance(credential, AppPassword):
        changed = service.user_revoke_app_password(actor=actor, app_password=credential, why=_where(match))
    else:
        changed = service.user_revoke_api_key(actor=actor, api_key=credential, why=_where(match))
    # Only the request whose conditional UPDATE revoked it tells the owner: an already revoked
    # credential, or one a concurrent report revoked first, gets no second email.
    if changed:
        _notify(credential, match)


def _notify(credential: AppPassword | ApiKey, match: Match) -> None:
    """Email the owner: which credential, where it was found, what to do. Never the secret."""
    owner = credential.owner
    if not owner.email:
        log.warning("no email address to tell user %s of leaked %s", owner.pk, credential.display)
        return
    is_password = isinstance(credential, AppPassword)
    context = {
        "provider_name": settings.MAILKITE.provider_name,
        "owner": owner,
        "kind": "app-password" if is_password else "API key",
        "label": credential.label,
        "identifier": credential.display,
        "address": credential.mailbox.address if isinstance(credential, AppPassword) else "",
        "url": match.url,
        # Linked only when it is a web address: the HTML part must not carry a javascript: link.
        "url_is_web": match.url.startswith(("https://", "http://")),
        "source": match.source,
        "settings_place": "Settings → IMAP" if is_password else "Settings → API keys",
    }
    subject = f"We revoked your {context['kind']} “{credential.label}”: it was found in public"
    message = EmailMultiAlternatives(
        subject=subject,
        body=render_to_string("passwords/email/leak_revoked.txt", context),
        to=[owner.email],
    )
    message.attach_alternative(render_to_string("passwords/email/leak_revoked.html", context), "text/html")
    try:
        message.send()
    except (smtplib.SMTPException, OSError):
        # The credential is revoked either way; the scanner still gets its answer.
        log.warning("could not email %s about leaked credential %s", owner.pk, credential.display)

"""Ownership verification: does the domain publish this account's TXT token? (DESIGN §7)

Every customer's MX names the same host, so the MX proves nothing about who owns a domain. Each
account that adds a domain gets its own token; publishing `mailkite-verification=<token>` as a TXT
record, on the domain itself or on `_mailkite.<domain>`, proves that account controls its DNS.

As for MX checks, only definitive answers (the name does not exist; neither name carries the token)
count against a domain; a timeout or a server failure on either name means "could not check".
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import dns.exception
import dns.resolver

from mailkite.mail.models import TXT_PREFIX

# The optional name for the record, for zones whose apex TXT set is crowded or managed elsewhere.
SUBDOMAIN = "_mailkite"


class Outcome(enum.StrEnum):
    VERIFIED = "verified"
    NXDOMAIN = "nxdomain"
    MISSING = "missing"
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"

    @property
    def definitive(self) -> bool:
        return self in (Outcome.NXDOMAIN, Outcome.MISSING)


@dataclass(frozen=True)
class TxtCheck:
    outcome: Outcome
    found_at: str = ""  # the name that carried the token

    def sentence(self, domain: str, token: str) -> str:
        value = TXT_PREFIX + token
        if self.outcome is Outcome.VERIFIED:
            return f"The TXT record {value} is published at {self.found_at}."
        if self.outcome is Outcome.NXDOMAIN:
            return f"The domain {domain} does not exist in DNS (NXDOMAIN), so it has no TXT record {value}."
        if self.outcome is Outcome.MISSING:
            return (
                f"Neither {domain} nor {SUBDOMAIN}.{domain} has the TXT record {value}. "
                f'Add it: {domain}. TXT "{value}".'
            )
        if self.outcome is Outcome.TIMEOUT:
            return f"Could not check the TXT records of {domain}: its DNS servers did not answer in time."
        return f"Could not check the TXT records of {domain}: its DNS servers answered with an error."


def _lookup(resolver: dns.resolver.Resolver, name: str) -> set[str] | Outcome:
    """The TXT strings at `name` (each record's strings joined, as RFC 7208 §3.3 reads them)."""
    try:
        answer = resolver.resolve(name, "TXT", search=False)
    except dns.resolver.NXDOMAIN:
        return Outcome.NXDOMAIN
    except dns.resolver.NoAnswer:
        return set()
    except dns.exception.Timeout:
        return Outcome.TIMEOUT
    except (dns.resolver.NoNameservers, dns.exception.DNSException):
        return Outcome.SERVFAIL
    return {b"".join(record.strings).decode("utf-8", "replace").strip() for record in answer}


def check(
    domain: str, token: str, *, nameserver: str | None = None, port: int = 53, timeout: float = 5.0
) -> TxtCheck:
    """Look for `mailkite-verification=<token>` at `domain`, then at `_mailkite.<domain>`."""
    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        resolver.nameservers = [nameserver]
        resolver.port = port
    resolver.timeout = resolver.lifetime = timeout
    wanted = TXT_PREFIX + token
    answers = {}
    for name in (domain, f"{SUBDOMAIN}.{domain}"):
        answer = _lookup(resolver, name)
        if isinstance(answer, set) and wanted in answer:
            return TxtCheck(Outcome.VERIFIED, found_at=name)
        answers[name] = answer
    for answer in answers.values():
        if answer in (Outcome.TIMEOUT, Outcome.SERVFAIL):
            return TxtCheck(answer)  # type: ignore[arg-type]
    if answers[domain] is Outcome.NXDOMAIN:
        return TxtCheck(Outcome.NXDOMAIN)
    return TxtCheck(Outcome.MISSING)

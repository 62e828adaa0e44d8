"""MX verification: does the domain's MX point at MailKite's inbound host? (DESIGN §7)

Only definitive answers (the name does not exist, it has no MX, its MX names other hosts)
count against a domain; a timeout or a server failure means "could not check" and changes
nothing, because a flaky resolver must never switch a customer's mail off.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import dns.exception
import dns.resolver


class Outcome(enum.StrEnum):
    VERIFIED = "verified"
    NXDOMAIN = "nxdomain"
    NO_MX = "no_mx"
    ELSEWHERE = "elsewhere"
    TIMEOUT = "timeout"
    SERVFAIL = "servfail"

    @property
    def definitive(self) -> bool:
        return self in (Outcome.NXDOMAIN, Outcome.NO_MX, Outcome.ELSEWHERE)


@dataclass(frozen=True)
class MxCheck:
    outcome: Outcome
    hosts: tuple[str, ...] = ()

    def sentence(self, domain: str, inbound: str) -> str:
        """Why the check passed or failed, for the user."""
        if self.outcome is Outcome.VERIFIED:
            return f"The MX record of {domain} points at {inbound}."
        if self.outcome is Outcome.NXDOMAIN:
            return (
                f"The domain {domain} does not exist in DNS (NXDOMAIN). Check its spelling and registration."
            )
        if self.outcome is Outcome.NO_MX:
            return f"{domain} has no MX record. Add one: {domain}. MX 10 {inbound}."
        if self.outcome is Outcome.ELSEWHERE:
            return (
                f"The MX record of {domain} points at {', '.join(self.hosts)}, not {inbound}. "
                f"Change it to: {domain}. MX 10 {inbound}."
            )
        if self.outcome is Outcome.TIMEOUT:
            return f"Could not check {domain}: its DNS servers did not answer in time. Nothing was changed."
        return f"Could not check {domain}: its DNS servers answered with an error. Nothing was changed."


def check(
    domain: str, *, inbound_host: str, nameserver: str | None = None, port: int = 53, timeout: float = 5.0
) -> MxCheck:
    """Look up `domain`'s MX records and compare them with `inbound_host`."""
    resolver = dns.resolver.Resolver(configure=nameserver is None)
    if nameserver is not None:
        resolver.nameservers = [nameserver]
        resolver.port = port
    resolver.timeout = resolver.lifetime = timeout
    try:
        answer = resolver.resolve(domain, "MX", search=False)
    except dns.resolver.NXDOMAIN:
        return MxCheck(Outcome.NXDOMAIN)
    except dns.resolver.NoAnswer:
        return MxCheck(Outcome.NO_MX)
    except dns.exception.Timeout:
        return MxCheck(Outcome.TIMEOUT)
    except (dns.resolver.NoNameservers, dns.exception.DNSException):
        return MxCheck(Outcome.SERVFAIL)
    hosts = tuple(sorted({str(record.exchange).rstrip(".").lower() for record in answer}))
    if inbound_host.rstrip(".").lower() in hosts:
        return MxCheck(Outcome.VERIFIED, hosts)
    if hosts in ((), ("",)):  # RFC 7505 null MX: the domain accepts no mail
        return MxCheck(Outcome.NO_MX)
    return MxCheck(Outcome.ELSEWHERE, hosts)

"""Every setting, read once from the environment into a typed object.

Each value has an embedded development default so a fresh clone runs with no configuration.
A malformed value fails at start-up with a sentence naming the variable, never later at use.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DEV_SECRET_KEY = "dev-insecure-secret-key-change-me"


def _whole(env: Mapping[str, str], name: str) -> int | None:
    """The variable as a whole number, or None when unset or empty."""
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {raw!r}.") from None


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    value = _whole(env, name)
    if value is None:
        return default
    if value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}, not {value}.")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    """A TCP port: 1-65535, so a typo fails here instead of binding or advertising another port."""
    value = _whole(env, name)
    if value is None:
        return default
    if not 1 <= value <= 65535:
        raise ImproperlyConfigured(f"{name} must be between 1 and 65535, not {value}.")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """A request rate as Django REST framework writes it: `120/minute`, `5000/hour`."""
    raw = (env.get(name) or default).strip()
    if not re.fullmatch(r"[1-9][0-9]*/(s|sec|second|m|min|minute|h|hour|d|day)", raw):
        raise ImproperlyConfigured(f"{name} must look like 120/minute or 5000/hour, not {raw!r}.")
    return raw


def _networks(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated IP addresses or networks, normalised (`192.0.2.7` becomes `192.0.2.7/32`)."""
    found = []
    for raw in (env.get(name) or "").split(","):
        if not raw.strip():
            continue
        try:
            found.append(str(ipaddress.ip_network(raw.strip(), strict=False)))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name} must list IP addresses or networks (10.0.0.0/8), not {raw.strip()!r}."
            ) from None
    return tuple(found)


def _scanning_keys(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    from passwords import scanning_keys  # stdlib and cryptography only: safe while settings load

    try:
        return scanning_keys.read_setting(env.get(name) or "")
    except scanning_keys.BadKeys as error:
        raise ImproperlyConfigured(f"{name} {error}.") from None


def _check_database_url(url: str) -> None:
    """A URL Django cannot parse fails here in words; the message never repeats the URL (its password)."""
    import dj_database_url

    try:
        urlsplit(url).port  # noqa: B018 (parsing the port is the check: "port" or 99999 raise)
        dj_database_url.parse(url)
    except ValueError as error:
        detail = (
            "its port must be between 1 and 65535"
            if "out of range" in str(error)
            else "a port that is not a number, or a password whose special characters are not percent-encoded"
        )
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid URL: {detail}.") from None


def _log_level(env: Mapping[str, str], name: str, default: str) -> str:
    raw = (env.get(name) or default).strip().upper()
    if raw not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
        raise ImproperlyConfigured(f"{name} must be DEBUG, INFO, WARNING, ERROR or CRITICAL, not {raw!r}.")
    return raw


def _path(env: Mapping[str, str], name: str, default: Path) -> Path:
    raw = env.get(name)
    return Path(raw).expanduser() if raw else default


@dataclass(frozen=True)
class Config:
    debug: bool
    secret_key: str
    allowed_hosts: tuple[str, ...]
    allowed_hosts_is_default: bool
    database_url: str | None
    db_pool_size: int
    redis_url: str | None
    data_dir: Path
    blob_dir: Path
    imap_bind_host: str
    imap_bind_port: int
    imap_public_host: str
    imap_public_port: int
    tls_cert: Path
    tls_key: Path
    argon2_time_cost: int
    argon2_memory_kib: int
    argon2_parallelism: int
    login_workers: int
    login_queue: int
    log_level: str
    mx_inbound_host: str
    dns_nameserver: str | None
    dns_port: int
    dns_timeout: float
    email_host: str | None
    default_from_email: str
    # The dashboard, the REST API and client set-up (autoconfig, .mobileconfig).
    smtp_submission_host: str = ""
    smtp_submission_port: int = 465
    provider_name: str = "MailKite"
    provider_domain: str = "mailkite.dev"
    reauth_minutes: int = 10
    # Domains verified before the TXT challenge existed keep IMAP this long without the record.
    txt_deadline_days: int = 30
    api_rate_limit: str = "120/minute"
    login_failure_limit: int = 5
    login_cooloff_minutes: int = 15
    csrf_trusted_origins: tuple[str, ...] = ()
    trust_x_forwarded_proto: bool = False
    # imapd processes sharing the port (SO_REUSEPORT). 1 keeps one process (tests, the demo);
    # production should use the number of cores: one event loop and the GIL cap a process.
    imap_workers: int = 1
    # Web hardening (issue 11). The reverse proxies whose X-Forwarded-For is believed; empty: none.
    trusted_proxies: tuple[str, ...] = ()
    # Wrong API keys from one address before it cools off (429), and for how long.
    api_auth_failure_limit: int = 10
    api_auth_cooloff_minutes: int = 15
    # Wrong sign-ins from one address across all usernames (password spraying) before it cools off.
    login_address_failure_limit: int = 20
    hsts_seconds: int = 31_536_000
    hsts_preload: bool = False
    # Unreferenced blobs younger than this are left to the ingest writing them (mail.blobgc).
    blob_gc_grace_hours: int = 24
    # Login throttling and connection limits (issue 10; docs/imap.md "Limits and abuse").
    login_share: int = 8  # logins one address or key id may have waiting or running
    login_failure_delay: int = 2  # seconds, doubling per failure ...
    login_failure_delay_max: int = 15  # ... up to this
    login_failures_per_connection: int = 3
    login_timeout: int = 60  # seconds from connect to a successful login
    imap_max_connections: int = 10_000  # per worker process
    imap_max_unauthenticated_per_address: int = 20
    imap_max_userip_connections: int = 10
    # Seconds a client may read nothing of a response before imapd drops it (Dovecot, mox: 5 min).
    imap_write_timeout: int = 300
    # Leak reports from secret scanners (issue 15; docs/api.md "Leaked tokens"): the public keys
    # whose signed reports revoke credentials, as (key identifier, PEM) pairs, and the rate per address.
    secret_scanning_public_keys: tuple[tuple[str, str], ...] = ()
    secret_scanning_rate_limit: str = "60/minute"
    # Per-statement database time of an IMAP command, and PostgreSQL work_mem of imapd's
    # connections (why these numbers: imapd.limits COMMAND_BUDGET and DB_WORK_MEM_KIB).
    imap_command_budget_ms: int = 5000
    imap_db_work_mem_kib: int = 4096
    # The PROXY protocol listener (docs/imap.md "Behind a load balancer"): off while the port is
    # None; the balancers whose PROXY headers are believed (required with the port).
    imap_proxy_bind_host: str = "127.0.0.1"
    imap_proxy_bind_port: int | None = None
    proxy_trusted_networks: tuple[str, ...] = ()
    # Login history (issue 15): rows older than this many days are pruned; the dashboard's address
    # for links in emails (new-login alerts' revoke link).
    login_history_days: int = 90
    dashboard_url: str = "http://localhost:8000"
    # LMTP delivery (`manage.py lmtpd`): where the MTA connects, and the largest message taken.
    lmtp_bind_host: str = "127.0.0.1"
    lmtp_bind_port: int = 2424
    lmtp_max_message_bytes: int = 50 * 1024 * 1024

    # Where collectstatic puts the files WhiteNoise serves. Not under the data directory: the image
    # collects them at build time, and the data directory is where runtime volumes go.
    static_root: Path = BASE_DIR / "var" / "static"


def load(env: Mapping[str, str] = os.environ) -> Config:
    """Read the configuration, raising ImproperlyConfigured naming the first bad variable."""
    data_dir = _path(env, "MAILKITE_DATA_DIR", BASE_DIR / "var")
    database_url = env.get("DATABASE_URL") or None
    if database_url and not database_url.startswith(("postgres://", "postgresql://", "sqlite://")):
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgresql:// or sqlite://, not {database_url.split(':', 1)[0]!r}."
        )
    if database_url:
        _check_database_url(database_url)
    redis_url = env.get("REDIS_URL") or None
    if redis_url and not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise ImproperlyConfigured("REDIS_URL must start with redis://, rediss:// or unix://.")
    cpu = os.cpu_count() or 1
    hosts = env.get("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]")
    return Config(
        debug=_bool(env, "DEBUG", True),
        secret_key=env.get("SECRET_KEY") or DEV_SECRET_KEY,
        allowed_hosts=tuple(h.strip() for h in hosts.split(",") if h.strip()),
        allowed_hosts_is_default="ALLOWED_HOSTS" not in env,
        database_url=database_url,
        db_pool_size=_int(env, "DB_POOL_SIZE", 8, minimum=1),
        redis_url=redis_url,
        data_dir=data_dir,
        blob_dir=_path(env, "BLOB_DIR", data_dir / "blobs"),
        imap_bind_host=env.get("IMAP_BIND_HOST", "127.0.0.1"),
        imap_bind_port=_port(env, "IMAP_BIND_PORT", 9993),
        imap_public_host=env.get("IMAP_PUBLIC_HOST", "localhost"),
        imap_public_port=_port(env, "IMAP_PUBLIC_PORT", 9993),
        tls_cert=_path(env, "TLS_CERT", data_dir / "devcert" / "server.pem"),
        tls_key=_path(env, "TLS_KEY", data_dir / "devcert" / "server.key"),
        # OWASP's argon2id floor: t=2, m=19 MiB, p=1 (about 20 ms here). The secret is random,
        # so a slower hash buys nothing.
        argon2_time_cost=_int(env, "ARGON2_TIME_COST", 2, minimum=1),
        argon2_memory_kib=_int(env, "ARGON2_MEMORY_KIB", 19 * 1024, minimum=8),
        argon2_parallelism=_int(env, "ARGON2_PARALLELISM", 1, minimum=1),
        login_workers=_int(env, "IMAP_LOGIN_WORKERS", cpu, minimum=1),
        login_queue=_int(env, "IMAP_LOGIN_QUEUE", 256, minimum=1),
        log_level=_log_level(env, "LOG_LEVEL", "INFO"),
        # The host customers' MX records must name for inbound mail (and so for IMAP).
        mx_inbound_host=env.get("MX_INBOUND_HOST", "mx.mailkite.dev").rstrip(".").lower(),
        # Where MX verification asks; unset uses the system's resolver (/etc/resolv.conf).
        dns_nameserver=env.get("DNS_NAMESERVER") or None,
        dns_port=_port(env, "DNS_PORT", 53),
        dns_timeout=float(_int(env, "DNS_TIMEOUT_SECONDS", 5, minimum=1)),
        email_host=env.get("EMAIL_HOST") or None,
        default_from_email=env.get("DEFAULT_FROM_EMAIL", "MailKite <noreply@mailkite.dev>"),
        smtp_submission_host=env.get("SMTP_SUBMISSION_HOST", "").strip(),
        smtp_submission_port=_port(env, "SMTP_SUBMISSION_PORT", 465),
        provider_name=env.get("PROVIDER_NAME", "").strip() or "MailKite",
        provider_domain=env.get("PROVIDER_DOMAIN", "").strip().lower() or "mailkite.dev",
        reauth_minutes=_int(env, "REAUTH_MINUTES", 10, minimum=1),
        txt_deadline_days=_int(env, "DOMAIN_TXT_DEADLINE_DAYS", 30, minimum=1),
        api_rate_limit=_rate(env, "API_RATE_LIMIT", "120/minute"),
        login_failure_limit=_int(env, "LOGIN_FAILURE_LIMIT", 5, minimum=1),
        login_cooloff_minutes=_int(env, "LOGIN_COOLOFF_MINUTES", 15, minimum=1),
        csrf_trusted_origins=tuple(
            o.strip() for o in env.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
        ),
        trust_x_forwarded_proto=_bool(env, "TRUST_X_FORWARDED_PROTO", False),
        imap_workers=_int(env, "IMAP_WORKERS", 1, minimum=1),
        trusted_proxies=_networks(env, "TRUSTED_PROXIES"),
        api_auth_failure_limit=_int(env, "API_AUTH_FAILURE_LIMIT", 10, minimum=1),
        api_auth_cooloff_minutes=_int(env, "API_AUTH_COOLOFF_MINUTES", 15, minimum=1),
        login_address_failure_limit=_int(env, "LOGIN_ADDRESS_FAILURE_LIMIT", 20, minimum=2),
        hsts_seconds=_int(env, "HSTS_SECONDS", 31_536_000),
        hsts_preload=_bool(env, "HSTS_PRELOAD", False),
        blob_gc_grace_hours=_int(env, "BLOB_GC_GRACE_HOURS", 24, minimum=1),
        login_share=_int(env, "IMAP_LOGIN_SHARE", 8, minimum=1),
        login_failure_delay=_int(env, "IMAP_LOGIN_FAILURE_DELAY_SECONDS", 2),
        login_failure_delay_max=_int(env, "IMAP_LOGIN_FAILURE_DELAY_MAX_SECONDS", 15),
        login_failures_per_connection=_int(env, "IMAP_LOGIN_FAILURES_PER_CONNECTION", 3, minimum=1),
        login_timeout=_int(env, "IMAP_LOGIN_TIMEOUT_SECONDS", 60, minimum=1),
        imap_max_connections=_int(env, "IMAP_MAX_CONNECTIONS", 10_000, minimum=1),
        imap_max_unauthenticated_per_address=_int(env, "IMAP_MAX_UNAUTHENTICATED_PER_ADDRESS", 20, minimum=1),
        imap_max_userip_connections=_int(env, "IMAP_MAX_USERIP_CONNECTIONS", 10, minimum=1),
        imap_write_timeout=_int(env, "IMAP_WRITE_TIMEOUT_SECONDS", 300, minimum=1),
        secret_scanning_public_keys=_scanning_keys(env, "SECRET_SCANNING_PUBLIC_KEYS"),
        secret_scanning_rate_limit=_rate(env, "SECRET_SCANNING_RATE_LIMIT", "60/minute"),
        imap_command_budget_ms=_int(env, "IMAP_COMMAND_BUDGET_MS", 5000, minimum=100),
        imap_db_work_mem_kib=_int(env, "IMAP_DB_WORK_MEM_KIB", 4096, minimum=64),
        imap_proxy_bind_host=env.get("IMAP_PROXY_BIND_HOST") or env.get("IMAP_BIND_HOST", "127.0.0.1"),
        imap_proxy_bind_port=_proxy_port(env),
        proxy_trusted_networks=_proxy_trusted(env),
        login_history_days=_int(env, "LOGIN_HISTORY_DAYS", 90, minimum=1),
        dashboard_url=(env.get("DASHBOARD_URL", "").strip() or "http://localhost:8000").rstrip("/"),
        lmtp_bind_host=env.get("LMTP_BIND_HOST", "").strip() or "127.0.0.1",
        lmtp_bind_port=_port(env, "LMTP_BIND_PORT", 2424),
        # Postfix's own message_size_limit defaults to 10 MB; 50 MiB leaves room for attachments
        # grown by base64 and for an MTA configured more generously.
        lmtp_max_message_bytes=_int(env, "LMTP_MAX_MESSAGE_BYTES", 50 * 1024 * 1024, minimum=1024),
        static_root=_path(env, "STATIC_ROOT", BASE_DIR / "var" / "static"),
    )


def _proxy_port(env: Mapping[str, str]) -> int | None:
    port = _int(env, "IMAP_PROXY_BIND_PORT", 0) or None
    if port is not None and port > 65535:
        raise ImproperlyConfigured(f"IMAP_PROXY_BIND_PORT must be between 1 and 65535, not {port}.")
    return port


def _proxy_trusted(env: Mapping[str, str]) -> tuple[str, ...]:
    """A PROXY listener that trusts nobody would refuse every balancer: say so at start-up."""
    trusted = _networks(env, "PROXY_TRUSTED_NETWORKS")
    if _proxy_port(env) is not None and not trusted:
        raise ImproperlyConfigured(
            "IMAP_PROXY_BIND_PORT is set but PROXY_TRUSTED_NETWORKS is empty: "
            "list the load balancers' addresses (10.0.0.0/8), or unset the port."
        )
    return trusted


def check_production(config: Config) -> None:
    """Refuse to start without DEBUG while a secret-bearing setting keeps its development default.

    The TLS certificate is checked where it is used (check_certificate), because imapd's --cert
    and --key flags override TLS_CERT and TLS_KEY, and settings load before flags are parsed."""
    if config.debug:
        return
    if config.secret_key == DEV_SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY still has its development default; set it.")
    if config.allowed_hosts_is_default:
        raise ImproperlyConfigured("ALLOWED_HOSTS is not set; list the web app's host names.")


def check_certificate(config: Config, cert: Path) -> None:
    """Refuse the development certificate without DEBUG: `cert` is the one actually served."""
    if not config.debug and cert.resolve() == (config.data_dir / "devcert" / "server.pem").resolve():
        raise ImproperlyConfigured(
            "TLS_CERT and TLS_KEY (or --cert and --key) point at the development certificate; "
            "set them to real files."
        )

"""Django settings. Every value comes from mailkite.config, which reads the environment once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mailkite import config as _config

try:
    CONFIG = _config.load()
    _config.check_production(CONFIG)
except ImproperlyConfigured as _error:
    # Every process (manage.py, daphne, celery) imports the settings first: a bad setting is its
    # one sentence on stderr and exit status 1, not buried at the end of a 58-line traceback.
    raise SystemExit(f"Configuration error: {_error}") from None
try:
    CONFIG.data_dir.mkdir(parents=True, exist_ok=True)  # a fresh clone has no var/ yet
except OSError as _error:
    raise SystemExit(
        f"Configuration error: MAILKITE_DATA_DIR {CONFIG.data_dir} cannot be created ({_error.strerror})."
    ) from None

BASE_DIR = _config.BASE_DIR
DEBUG = CONFIG.debug
SECRET_KEY = CONFIG.secret_key
ALLOWED_HOSTS = list(CONFIG.allowed_hosts)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "channels",
    "mailkite.mail",
    "mailkite.events",
    "passwords",
    "imapd",
]

MIDDLEWARE = [
    "mailkite.health.HealthCheckMiddleware",  # first: answers /healthz on any host name
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "mailkite.urls"
WSGI_APPLICATION = "mailkite.wsgi.application"
ASGI_APPLICATION = "mailkite.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


def _database(url: str | None) -> dict[str, Any]:
    if url is None or url.startswith("sqlite://"):
        db: dict[str, Any] = (
            dict(dj_database_url.parse(url))
            if url
            else {"ENGINE": "django.db.backends.sqlite3", "NAME": CONFIG.data_dir / "mailkite.sqlite3"}
        )
        # imapd, deliver and the web app write from separate processes: WAL lets readers go on
        # while one writes, IMMEDIATE takes the write lock up front instead of failing mid-way.
        db["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
        return db
    db = dict(dj_database_url.parse(url))
    db["ENGINE"] = "django.db.backends.postgresql"
    db["CONN_MAX_AGE"] = 0  # the pool keeps connections; Django requires 0 with it
    db["OPTIONS"] = {"pool": {"min_size": 1, "max_size": CONFIG.db_pool_size, "timeout": 10}}
    return db


DATABASES = {"default": _database(CONFIG.database_url)}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
    "blobs": {
        "BACKEND": "mailkite.mail.blobstore.ContentAddressedStorage",
        "OPTIONS": {"location": CONFIG.blob_dir},
    },
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = CONFIG.static_root

if CONFIG.redis_url:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [CONFIG.redis_url]},
        }
    }
    CELERY_BROKER_URL = CONFIG.redis_url
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    # No broker: tasks run in the calling process so a fresh clone needs no services.
    CELERY_TASK_ALWAYS_EAGER = True

MAILKITE = CONFIG

CELERY_BEAT_SCHEDULE = {
    "verify-domains-hourly": {"task": "mailkite.mail.tasks.verify_all_domains", "schedule": 3600.0},
    # Walks the whole blob store, so not hourly; with the day's grace a blob goes within 30 hours.
    "collect-blobs": {"task": "mailkite.mail.tasks.collect_blobs", "schedule": 6 * 3600.0},
    # Login history (issue 15): pending new-login alerts go out within a minute; old rows daily.
    "send-login-alerts": {"task": "passwords.tasks.send_login_alerts", "schedule": 30.0},
    "prune-login-history": {"task": "passwords.tasks.prune_login_history", "schedule": 24 * 3600.0},
    # App-password expiry reminders, 7 days and 1 day before (passwords/reminders.py).
    "expiry-reminders": {"task": "passwords.tasks.send_expiry_reminders", "schedule": 3600.0},
}
# Mail to users (domain warnings): printed to the console until an SMTP host is configured.
EMAIL_BACKEND = (
    "django.core.mail.backends.smtp.EmailBackend"
    if CONFIG.email_host
    else "django.core.mail.backends.console.EmailBackend"
)
EMAIL_HOST = CONFIG.email_host or "localhost"
DEFAULT_FROM_EMAIL = CONFIG.default_from_email

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_secrets": {"()": "passwords.logging.MaskSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "filters": ["mask_secrets"],
            "formatter": "plain",
        }
    },
    "root": {"handlers": ["console"], "level": CONFIG.log_level},
}

# -- Dashboard and REST API (passwords/) ------------------------------------------------------------

INSTALLED_APPS += ["axes", "drf_spectacular", "drf_spectacular_sidecar"]
# Last, as django-axes asks: it turns a locked-out sign-in into the cool-off page.
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
# Outermost: any error under /api/ that is not yet an RFC 9457 problem document becomes one.
MIDDLEWARE.insert(0, "passwords.api.problems.ProblemMiddleware")
TEMPLATES[0]["OPTIONS"]["context_processors"].append("passwords.context.site")  # type: ignore[index]
STATICFILES_DIRS = [BASE_DIR / "static"]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before any check
    "django.contrib.auth.backends.ModelBackend",
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "imap-settings"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling: a few failures per username and address, and more per address across
# usernames (spraying), then a cool-off (never a permanent lock, which anyone could use against a
# victim). The address is the real client's behind TRUSTED_PROXIES.
AXES_FAILURE_LIMIT = CONFIG.login_failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=CONFIG.login_cooloff_minutes)
AXES_HANDLER = "passwords.signin_throttle.PairAndAddressHandler"
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]  # this order: the handler relies on it
AXES_CLIENT_IP_CALLABLE = "passwords.clientip.client_ip"
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "passwords.views.locked_out"
AXES_VERBOSE = False

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
CSRF_TRUSTED_ORIGINS = list(CONFIG.csrf_trusted_origins)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if not DEBUG:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-sessionid"
    CSRF_COOKIE_NAME = "__Host-csrftoken"
if CONFIG.trust_x_forwarded_proto:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# -- Web hardening (issue 11; docs/dashboard.md "Operating behind a proxy") -------------------------
# A strict Content-Security-Policy (django-csp): scripts and styles only from our own static files,
# no inline code or event handlers, no plugins, no framing. Enforced in production; in DEBUG it is
# report-only, so development pages (Django's error pages included) still work while every
# violation is reported in the browser's console, where the browser test fails on it.
INSTALLED_APPS += ["csp"]
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "csp.middleware.CSPMiddleware"
)
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],  # Swagger UI's icons are data: URIs
        "connect-src": ["'self'"],  # the live last-used websocket is same-origin
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if DEBUG:
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP
    # HTTPS only: redirect plain HTTP (the proxy's X-Forwarded-Proto counts when trusted) and tell
    # browsers never to try HTTP again. Load balancers probe /healthz over HTTP.
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = CONFIG.hsts_seconds
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = CONFIG.hsts_preload
    if not CONFIG.hsts_preload:
        # Preloading is the operator's decision for the registrable domain (HSTS_PRELOAD=true) and
        # takes months to undo; leaving it off is deliberate, not an oversight check --deploy warns of.
        SILENCED_SYSTEM_CHECKS = ["security.W021"]

if CONFIG.redis_url:
    # Shared by every web process: API throttling counts per key across them.
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CONFIG.redis_url}
    }

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "passwords.api.authentication.ApiKeyAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "passwords.api.permissions.HasScope",  # every operation names the scope an API key needs
    ],
    "DEFAULT_THROTTLE_CLASSES": ["passwords.api.throttling.PerCredentialThrottle"],
    "DEFAULT_THROTTLE_RATES": {"api": CONFIG.api_rate_limit},
    "DEFAULT_PAGINATION_CLASS": "passwords.api.pagination.Pagination",
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "passwords.api.problems.exception_handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": f"{CONFIG.provider_name} IMAP app-passwords API",
    "DESCRIPTION": (
        "Create, list and revoke the IMAP app-passwords of your mailboxes, and see which of your "
        "domains can use IMAP. Authenticate with `Authorization: Bearer mk_api_…` (an API key made "
        "under Settings → API keys). Every error is an RFC 9457 problem document."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",  # served from our own static files: the docs work offline
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",  # tags and operation ids from the resource, not the version
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "passwords.api.schema.add_problem_responses",
    ],
}

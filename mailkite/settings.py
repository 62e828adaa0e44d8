"""Django settings. Every value comes from mailkite.config, which reads the environment once."""

from __future__ import annotations

from typing import Any

import dj_database_url

from mailkite import config as _config

CONFIG = _config.load()
_config.check_production(CONFIG)
CONFIG.data_dir.mkdir(parents=True, exist_ok=True)  # a fresh clone has no var/ yet

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
STATIC_ROOT = CONFIG.data_dir / "static"

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

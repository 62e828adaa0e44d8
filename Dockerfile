# One image for every MailKite service: web (daphne), imapd, lmtpd, celery worker and beat.
FROM python:3.11-slim
# gnupg: domains with PGP encryption encrypt incoming mail with gpg (mailkite.mail.encryption).
RUN apt-get update && apt-get install -y --no-install-recommends gnupg && rm -rf /var/lib/apt/lists/*
# STATIC_ROOT lives in the image, not under MAILKITE_DATA_DIR: collectstatic below fills it at build
# time and the web app serves it at run time, whatever data directory compose gives the services.
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 DJANGO_SETTINGS_MODULE=mailkite.settings \
    STATIC_ROOT=/app/staticfiles
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DEBUG=true python manage.py collectstatic --noinput
# The data directory and the blobs mount point exist, owned by the service user, before the VOLUME:
# a new named volume mounted there starts with that owner, so uid 1000 can write blobs and beat's
# schedule.
RUN useradd --system --uid 1000 mailkite && mkdir -p /data/blobs && chown -R mailkite /data
VOLUME /data/blobs
USER mailkite

"""`manage.py demo`: a demo user, a verified domain, a mailbox with mail, and an app-password.

Idempotent: re-running keeps the mail and replaces the demo app-password with a fresh one
(the old one is revoked, since a secret is only ever shown once).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from imapd import devcert
from mailkite.mail import democorpus, ingest, services
from mailkite.mail.models import Domain, Message
from passwords import service
from passwords.models import AppPassword

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password-change-me"
DEMO_DOMAIN = "demo.mailkite.test"
DEMO_ADDRESS = f"you@{DEMO_DOMAIN}"
DEMO_LABEL = "Demo (printed by manage.py demo)"


class Command(BaseCommand):
    help = "Create the demo account, its mail and a fresh app-password, and print how to connect."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--messages", type=int, default=36, help="how many demo messages to load")

    def handle(self, *args: Any, **options: Any) -> None:
        config = settings.MAILKITE
        cert, _ = devcert.ensure(config.data_dir / "devcert")
        user, created = get_user_model().objects.get_or_create(
            username=DEMO_USER, defaults={"email": DEMO_ADDRESS}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        domain = Domain.objects.filter(name=DEMO_DOMAIN, owner=user).first() or services.create_domain(
            name=DEMO_DOMAIN, owner=user, mx_verified=True, owner_verified=True
        )
        # A reserved name cannot publish a TXT record: the demo's domain is marked owned directly
        # (also when an older database gave it a deadline to publish one).
        services.mark_owner_verified(domain)
        mailbox = services.find_mailbox(DEMO_ADDRESS) or services.create_mailbox(
            domain=domain, local_part="you"
        )
        if not Message.objects.filter(folder__mailbox=mailbox).exists():
            for folder, raw, when in democorpus.messages(DEMO_ADDRESS, count=options["messages"]):
                ingest.store(mailbox=mailbox, raw=raw, folder=folder, internal_date=when)
        actor = service.command_line()  # on the audit trail like `manage.py apppassword`
        with transaction.atomic():
            for old in AppPassword.objects.filter(mailbox=mailbox, label=DEMO_LABEL, revoked_at__isnull=True):
                service.user_revoke_app_password(actor=actor, app_password=old)
            _, secret = service.user_create_app_password(actor=actor, mailbox=mailbox, label=DEMO_LABEL)
        count = Message.objects.filter(folder__mailbox=mailbox).count()
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "MailKite demo account",
                    f"  IMAP server   {config.imap_public_host}:{config.imap_public_port} (implicit TLS)",
                    f"  CA to trust   {cert.ca}",
                    f"  username      {DEMO_ADDRESS} (any username works)",
                    f"  app-password  {secret}",
                    f"  mail          {count} messages in INBOX and Sent",
                    f"  dashboard     user {DEMO_USER}, password {DEMO_PASSWORD}",
                    "",
                    "Try it:",
                    f"  python3 -c \"import imaplib, ssl; "
                    f"c = imaplib.IMAP4_SSL('{config.imap_public_host}', {config.imap_public_port}, "
                    f"ssl_context=ssl.create_default_context(cafile='{cert.ca}')); "
                    f"print(c.login('{DEMO_ADDRESS}', '{secret}')); print(c.select('INBOX'))\"",
                    "",
                ]
            )
        )

"""Removing a folder (with its mailbox, its domain or its owner's account, by cascade) removes its
messages; their blobs are then collected once the removal commits (mail.blobgc)."""

from __future__ import annotations

from typing import Any

from django.db.models.signals import pre_delete
from django.dispatch import receiver

from mailkite.mail import blobgc
from mailkite.mail.models import Folder, Message


@receiver(pre_delete, sender=Folder, dispatch_uid="mail.collect_removed_folder_blobs")
def collect_removed_folder_blobs(sender: type[Folder], instance: Folder, **kwargs: Any) -> None:
    # Read now, while the messages are still there; collected after the cascade has committed.
    blobgc.collect_after_commit(
        Message.objects.filter(folder=instance).values_list("blob_id", flat=True).distinct()
    )

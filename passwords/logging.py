"""A logging filter that masks anything shaped like a MailKite credential in every record.

Users paste passwords into username fields and IMAP LOGIN can carry them as literals, so the
mask applies to the formatted message, not only to known arguments.
"""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"mk_(imap|api)_([0-9A-Za-z]{1,10})[0-9A-Za-z_]*")


def mask(text: str) -> str:
    return _SECRET.sub(lambda m: f"mk_{m[1]}_{m[2]}_***", text)


class MaskSecretsFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        return True

"""A logging filter that keeps access tokens out of every log line."""

from __future__ import annotations

import logging
import re

_TOKEN_PARAM = re.compile(r"((?:access_)?token|refresh)=[^&\s\"']+", re.IGNORECASE)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Replace the value of every ``token=`` style query parameter in ``text``."""
    return _TOKEN_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


class RedactTokensFilter(logging.Filter):
    """Rewrite a record's message and arguments so no token value survives.

    uvicorn's access log passes the request path (query string included) as an argument,
    so arguments are redacted as well as the format string.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {
                k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()
            }
        return True

"""Hide passwords in DSNs, Redis URLs and messages before anything prints them."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

MASK = "***"

_URL_PASSWORD = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^:@/\s]*):(?P<pw>[^@\s]*)@")
_KV_PASSWORD = re.compile(r"(?P<key>\bpassword\s*=\s*)(?P<pw>'(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def mask_secret_text(text: str, *secrets: str | None) -> str:
    """Mask passwords inside URLs and key=value strings, and any known secret."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['scheme']}{m['user']}:{MASK}@", text)
    text = _KV_PASSWORD.sub(lambda m: f"{m['key']}{MASK}", text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, MASK)
    return text


def url_password(url: str | None) -> str | None:
    """The password inside a URL-form DSN or Redis URL, if any."""
    if not url or "://" not in url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def mask_dsn(dsn: str | None) -> str:
    if not dsn:
        return ""
    return mask_secret_text(dsn, url_password(dsn))

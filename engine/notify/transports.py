"""Sending: an HTTP POST of JSON, or one e-mail over SMTP (`BPM_SMTP_URL`)."""

from __future__ import annotations

import json
import os
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage
from typing import Any
from urllib.parse import unquote, urlsplit

SMTP_URL_ENV = "BPM_SMTP_URL"  # smtp://user:password@host:port?from=bpm@example.com (smtps:// for TLS)
TIMEOUT = 10.0  # seconds; a hung receiver must not hold the worker


class SendError(Exception):
    """A send that did not go through; the worker retries it later."""


def post_json(url: str, body: dict[str, Any], key: str) -> str:
    """POST a JSON body with an Idempotency-Key header; return the answer's status line."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=data, method="POST", headers={
        "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": key,
        "User-Agent": "PropertyFlow-notify"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT) as answer:  # an admin-set URL
            answer.read(65536)
            status = answer.status
    except urllib.error.HTTPError as exc:
        raise SendError(f"HTTP {exc.code} from {url}") from exc
    except (OSError, ValueError) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if not 200 <= status < 300:
        raise SendError(f"HTTP {status} from {url}")
    return f"HTTP {status}"


def smtp_url() -> str | None:
    """Return the configured SMTP URL, or None when e-mail is not set up."""
    return os.environ.get(SMTP_URL_ENV) or None


def sender(url: str) -> str:
    """Return the From address the SMTP URL names (default bpm@localhost)."""
    query = dict(p.split("=", 1) for p in urlsplit(url).query.split("&") if "=" in p)
    return unquote(query.get("from", "bpm@localhost"))


def send_mail(url: str, message: EmailMessage) -> str:
    """Send one message through the SMTP server the URL names."""
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps", "smtp+starttls"):
        raise SendError(f"{SMTP_URL_ENV}: scheme {parts.scheme!r} is not smtp, smtps or smtp+starttls")
    host, port = parts.hostname or "localhost", parts.port or (465 if parts.scheme == "smtps" else 25)
    try:
        client: smtplib.SMTP = (smtplib.SMTP_SSL(host, port, timeout=TIMEOUT) if parts.scheme == "smtps"
                                else smtplib.SMTP(host, port, timeout=TIMEOUT))
        with client:
            if parts.scheme == "smtp+starttls":
                client.starttls()
            if parts.username:
                client.login(unquote(parts.username), unquote(parts.password or ""))
            refused = client.send_message(message)
    except (OSError, smtplib.SMTPException) as exc:
        raise SendError(f"{type(exc).__name__}: {exc}") from exc
    if refused:
        raise SendError(f"refused recipients: {refused}")
    return "250 sent"

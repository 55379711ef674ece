"""Delivery to each outside channel: email (SMTP), signed webhooks, and the WeCom, DingTalk and
Feishu group robots. In-app notifications are stored by the worker, not sent from here.

Each `deliver_*` returns on success and raises `DeliveryFailed` with a reason a person can act
on; the worker retries with backoff and finally marks the message dead with that reason.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any
from urllib.parse import quote_plus

import httpx

from patron.errors import PatronError
from patron.notify.settings import NotifySettings

SIGNATURE_HEADER = "X-Patron-Signature"
TIMESTAMP_HEADER = "X-Patron-Timestamp"
DELIVERY_HEADER = "X-Patron-Delivery"


class DeliveryFailed(PatronError):
    """A channel refused or could not take a message; it will be retried."""

    code = "delivery_failed"
    status = 502


@dataclass(frozen=True)
class Envelope:
    """What a channel needs of an outbox message, read before the network call."""

    id: int
    channel: str
    recipient: str
    subject: str
    body: str
    dedupe_key: str
    customer_id: int | None = None
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        """Subject and body as one plain text, for robots that take a single text."""
        return f"{self.subject}\n{self.body}" if self.subject else self.body


def deliver_email(envelope: Envelope, settings: NotifySettings) -> None:
    """Send by SMTP (optionally SSL or STARTTLS, and with a login)."""
    message = EmailMessage()
    message["Subject"] = envelope.subject
    message["From"] = settings.smtp_from
    message["To"] = envelope.recipient
    message["Date"] = formatdate(localtime=True)
    # A stable id lets a receiving system recognise a redelivery after a crash.
    message["Message-ID"] = f"<outbox-{envelope.id}@patron.invalid>"
    message.set_content(envelope.body)
    opener = smtplib.SMTP_SSL if settings.smtp_ssl else smtplib.SMTP
    try:
        with opener(
            settings.smtp_host, settings.smtp_port, timeout=settings.notify_timeout_seconds
        ) as smtp:
            if settings.smtp_starttls and not settings.smtp_ssl:
                smtp.starttls()
            if settings.smtp_user:
                smtp.login(settings.smtp_user, settings.smtp_password or "")
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        where = f"{settings.smtp_host}:{settings.smtp_port}"
        raise DeliveryFailed(f"the mail server {where} refused or failed: {exc}") from exc


def webhook_signature(secret: str, timestamp: str, body: bytes) -> str:
    """`sha256=` and the hex HMAC-SHA256 of "TIMESTAMP." + body, keyed by the shared secret."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def deliver_webhook(envelope: Envelope, settings: NotifySettings) -> None:
    """POST the message as JSON, signed with PATRON_WEBHOOK_SECRET and timestamped."""
    if not settings.webhook_secret:
        raise DeliveryFailed("PATRON_WEBHOOK_SECRET is not set, so webhooks cannot be signed")
    body = json.dumps(
        {
            "id": envelope.id,
            "dedupe_key": envelope.dedupe_key,
            "subject": envelope.subject,
            "body": envelope.body,
            "customer_id": envelope.customer_id,
            "payload": envelope.payload,
        },
        ensure_ascii=False,
    ).encode()
    timestamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json; charset=utf-8",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: webhook_signature(settings.webhook_secret, timestamp, body),
        DELIVERY_HEADER: envelope.dedupe_key,
    }
    _post(envelope.recipient, content=body, headers=headers, settings=settings)


def dingtalk_sign(secret: str, timestamp_ms: str) -> str:
    """DingTalk's robot sign: base64 HMAC-SHA256 of "timestamp\\nsecret", keyed by the secret."""
    digest = hmac.new(secret.encode(), f"{timestamp_ms}\n{secret}".encode(), hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def feishu_sign(secret: str, timestamp: str) -> str:
    """Feishu's robot signature: base64 HMAC-SHA256 keyed by "timestamp\\nsecret" of nothing."""
    digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256)
    return base64.b64encode(digest.digest()).decode()


def deliver_wecom(envelope: Envelope, settings: NotifySettings) -> None:
    """A text message to a WeCom (企业微信) group robot's webhook URL."""
    message = {"msgtype": "text", "text": {"content": envelope.text}}
    _robot(envelope.recipient, message, settings, ok=_errcode_zero)


def deliver_dingtalk(envelope: Envelope, settings: NotifySettings) -> None:
    """A text message to a DingTalk (钉钉) robot, signed when PATRON_DINGTALK_SECRET is set."""
    url = envelope.recipient
    if settings.dingtalk_secret:
        stamp = str(int(time.time() * 1000))
        sign = quote_plus(dingtalk_sign(settings.dingtalk_secret, stamp))
        url += ("&" if "?" in url else "?") + f"timestamp={stamp}&sign={sign}"
    message = {"msgtype": "text", "text": {"content": envelope.text}}
    _robot(url, message, settings, ok=_errcode_zero)


def deliver_feishu(envelope: Envelope, settings: NotifySettings) -> None:
    """A text message to a Feishu (飞书) robot, signed when PATRON_FEISHU_SECRET is set."""
    message: dict[str, Any] = {"msg_type": "text", "content": {"text": envelope.text}}
    if settings.feishu_secret:
        stamp = str(int(time.time()))
        message |= {"timestamp": stamp, "sign": feishu_sign(settings.feishu_secret, stamp)}
    _robot(envelope.recipient, message, settings, ok=_feishu_ok)


def _errcode_zero(answer: dict[str, Any]) -> bool:
    return answer.get("errcode") == 0


def _feishu_ok(answer: dict[str, Any]) -> bool:
    return answer.get("code", answer.get("StatusCode")) == 0


def _robot(
    url: str,
    message: dict[str, Any],
    settings: NotifySettings,
    *,
    ok: Callable[[dict[str, Any]], bool],
) -> None:
    # Robots answer 200 even when they refuse, with the reason in the JSON body.
    response = _post(
        url, content=json.dumps(message, ensure_ascii=False).encode(), settings=settings,
        headers={"Content-Type": "application/json; charset=utf-8"},
    )  # fmt: skip
    try:
        answer = response.json()
    except ValueError as exc:
        raise DeliveryFailed(f"the robot at {_host(url)} did not answer with JSON") from exc
    if not isinstance(answer, dict) or not ok(answer):
        raise DeliveryFailed(f"the robot at {_host(url)} refused the message: {answer}")


def _post(
    url: str, *, content: bytes, headers: dict[str, str], settings: NotifySettings
) -> httpx.Response:
    try:
        response = httpx.post(
            url, content=content, headers=headers, timeout=settings.notify_timeout_seconds
        )
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"could not reach {_host(url)}: {exc}") from exc
    if not response.is_success:
        raise DeliveryFailed(
            f"{_host(url)} answered HTTP {response.status_code}: {response.text[:200]}"
        )
    return response


def _host(url: str) -> str:
    # Robot URLs carry their access token in the query: keep it out of stored errors.
    return str(httpx.URL(url).copy_with(query=None))


SENDERS: dict[str, Callable[[Envelope, NotifySettings], None]] = {
    "email": deliver_email,
    "webhook": deliver_webhook,
    "wecom": deliver_wecom,
    "dingtalk": deliver_dingtalk,
    "feishu": deliver_feishu,
}

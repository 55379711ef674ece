"""Each channel against a real local receiver: SMTP (aiosmtpd) and HTTP on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import pytest

from patron.notify.channels import (
    DeliveryFailed,
    Envelope,
    deliver_dingtalk,
    deliver_email,
    deliver_feishu,
    deliver_webhook,
    deliver_wecom,
)
from patron.notify.settings import NotifySettings
from tests.notify.receivers import Received, free_port, http_receiver, smtp_server

SECRET = "a-shared-webhook-secret"


def _envelope(channel: str, recipient: str, **fields: Any) -> Envelope:
    values: dict[str, Any] = {
        "id": 7, "channel": channel, "recipient": recipient, "subject": "续费提醒",
        "body": "张三的合同下月到期。", "dedupe_key": "renewal:7", "customer_id": 3,
        "payload": {"kind": "renewal"},
    } | fields  # fmt: skip
    return Envelope(**values)


def test_email_arrives_with_subject_and_body() -> None:
    with smtp_server() as (mailbox, port):
        settings = NotifySettings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_from="crm@example.com"
        )
        deliver_email(_envelope("email", "owner@example.com"), settings)
    [message] = mailbox.messages
    assert message["Subject"] == "续费提醒"
    assert message["From"] == "crm@example.com"
    assert mailbox.recipients == [["owner@example.com"]]
    assert message.get_content().strip() == "张三的合同下月到期。"
    assert message["Message-ID"] == "<outbox-7@patron.invalid>"


def test_an_unreachable_mail_server_fails_the_delivery() -> None:
    settings = NotifySettings(smtp_host="127.0.0.1", smtp_port=free_port())
    with pytest.raises(DeliveryFailed, match=r"mail server 127\.0\.0\.1"):
        deliver_email(_envelope("email", "owner@example.com"), settings)


def _verified(request: Received) -> bool:
    stamp = request.headers["X-Patron-Timestamp"]
    expected = hmac.new(SECRET.encode(), stamp.encode() + b"." + request.body, hashlib.sha256)
    return hmac.compare_digest(
        request.headers["X-Patron-Signature"], "sha256=" + expected.hexdigest()
    )


def test_webhook_body_is_signed_with_a_timestamp() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (200, {}) if _verified(r) else (401, {"error": "bad sign"})
        deliver_webhook(
            _envelope("webhook", receiver.url + "/hook"), NotifySettings(webhook_secret=SECRET)
        )
    [request] = receiver.requests
    assert request.path == "/hook"
    assert request.headers["X-Patron-Delivery"] == "renewal:7"
    assert request.json() == {
        "id": 7, "dedupe_key": "renewal:7", "subject": "续费提醒", "body": "张三的合同下月到期。",
        "customer_id": 3, "payload": {"kind": "renewal"},
    }  # fmt: skip


def test_a_webhook_signed_with_another_secret_is_refused_by_the_receiver() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (200, {}) if _verified(r) else (401, {"error": "bad sign"})
        with pytest.raises(DeliveryFailed, match="HTTP 401"):
            deliver_webhook(
                _envelope("webhook", receiver.url), NotifySettings(webhook_secret="another")
            )


def test_a_webhook_without_a_secret_is_not_sent() -> None:
    with http_receiver() as receiver, pytest.raises(DeliveryFailed, match="WEBHOOK_SECRET"):
        deliver_webhook(_envelope("webhook", receiver.url), NotifySettings())
    assert receiver.requests == []


def test_wecom_robot_gets_a_text_message() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (200, {"errcode": 0, "errmsg": "ok"})
        deliver_wecom(
            _envelope("wecom", receiver.url + "/cgi-bin/webhook/send?key=K"), NotifySettings()
        )
    [request] = receiver.requests
    assert request.query == {"key": ["K"]}
    assert request.json() == {
        "msgtype": "text",
        "text": {"content": "续费提醒\n张三的合同下月到期。"},
    }


def test_a_robot_that_refuses_fails_the_delivery_without_leaking_its_key() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
        with pytest.raises(DeliveryFailed, match="refused") as caught:
            deliver_wecom(
                _envelope("wecom", receiver.url + "/send?key=SECRET-KEY"), NotifySettings()
            )
    assert "SECRET-KEY" not in caught.value.message


def _dingtalk_sign_ok(request: Received, secret: str) -> bool:
    stamp = request.query["timestamp"][0]
    digest = hmac.new(secret.encode(), f"{stamp}\n{secret}".encode(), hashlib.sha256).digest()
    return request.query["sign"][0] == base64.b64encode(digest).decode()


def test_dingtalk_robot_gets_a_signed_text_message() -> None:
    secret = "SEC0123456789abcdef+/="
    with http_receiver() as receiver:
        receiver.answer = lambda r: (
            (200, {"errcode": 0}) if _dingtalk_sign_ok(r, secret) else (200, {"errcode": 310000})
        )
        deliver_dingtalk(
            _envelope("dingtalk", receiver.url + "/robot/send?access_token=T"),
            NotifySettings(dingtalk_secret=secret),
        )
    [request] = receiver.requests
    assert request.query["access_token"] == ["T"]
    assert len(request.query["timestamp"][0]) == 13  # milliseconds
    assert request.json() == {
        "msgtype": "text",
        "text": {"content": "续费提醒\n张三的合同下月到期。"},
    }


def test_dingtalk_without_a_secret_sends_no_signature() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (200, {"errcode": 0})
        deliver_dingtalk(_envelope("dingtalk", receiver.url + "/robot/send"), NotifySettings())
    assert receiver.requests[0].query == {}


def _feishu_sign_ok(request: Received, secret: str) -> bool:
    body = request.json()
    key = f"{body['timestamp']}\n{secret}".encode()
    expected = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
    return bool(body["sign"] == expected)


def test_feishu_robot_gets_a_signed_text_message() -> None:
    secret = "feishu-secret"
    with http_receiver() as receiver:
        receiver.answer = lambda r: (
            (200, {"code": 0, "msg": "success"})
            if _feishu_sign_ok(r, secret)
            else (200, {"code": 19021, "msg": "sign match fail"})
        )
        deliver_feishu(
            _envelope("feishu", receiver.url + "/open-apis/bot/v2/hook/abc"),
            NotifySettings(feishu_secret=secret),
        )
    body = receiver.requests[0].json()
    assert body["msg_type"] == "text"
    assert body["content"] == {"text": "续费提醒\n张三的合同下月到期。"}


def test_feishu_refusal_fails_the_delivery() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (200, {"code": 19021, "msg": "sign match fail"})
        with pytest.raises(DeliveryFailed, match="sign match fail"):
            deliver_feishu(_envelope("feishu", receiver.url + "/hook"), NotifySettings())


def test_an_http_error_status_fails_the_delivery() -> None:
    with http_receiver() as receiver:
        receiver.answer = lambda r: (503, {"error": "down"})
        with pytest.raises(DeliveryFailed, match="HTTP 503"):
            deliver_wecom(_envelope("wecom", receiver.url), NotifySettings())

"""The web push channel against a real local HTTP endpoint playing the push service.

The test holds the phone's side: a P-256 key pair and auth secret it subscribed with. The
receiver gets the encrypted body exactly as a push service would, the test decrypts it with
http_ece (aes128gcm, RFC 8291) and checks the VAPID JWT (RFC 8292) with the public key.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from alerts.channels.base import Delivery
from alerts.channels.webpush import (
    MAX_ENCRYPTED_BYTES,
    MAX_PAYLOAD_BYTES,
    WebPushChannel,
    build_payload,
    generate_vapid_keys,
    is_subscription_gone,
    load_vapid_private_key,
    public_key_b64url,
)
from tests.alerts_channels.harness import SENT_AT, TIMEOUT_S, WebPushHarness, webpush_harness
from tests.alerts_channels.receiver import Reply
from tests.alerts_channels.test_channel_contract import BODY


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def verify_vapid(header: str, public_b64: str) -> dict[str, object]:
    """The JWT claims, after checking the ES256 signature against `public_b64` (RFC 8292 §3)."""
    scheme, _, params = header.partition(" ")
    assert scheme == "vapid"
    parts = dict(part.strip().split("=", 1) for part in params.split(","))
    assert parts["k"] == public_b64
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64d(parts["k"]))
    signing_input, _, signature = parts["t"].rpartition(".")
    raw = b64d(signature)
    assert len(raw) == 64  # JOSE r||s, not DER
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    public.verify(der, signing_input.encode("ascii"), ec.ECDSA(hashes.SHA256()))  # raises if forged
    head, claims = (json.loads(b64d(piece)) for piece in signing_input.split("."))
    assert head == {"typ": "JWT", "alg": "ES256"}
    assert isinstance(claims, dict)
    return claims


@pytest.fixture
async def harness() -> AsyncIterator[WebPushHarness]:
    async with webpush_harness() as h:
        yield h


def decrypted(harness: WebPushHarness, index: int = -1) -> dict[str, object]:
    payload = json.loads(harness.subscriber.decrypt(harness.receiver.requests[index].body))
    assert isinstance(payload, dict)
    return payload


async def test_encrypted_payload_and_vapid_as_a_push_service_sees_them(harness: WebPushHarness) -> None:
    harness.receiver.script(Reply(status=201, headers={"Location": "/m/123"}))
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-1", event="alert.opened", body=BODY))
    assert result.delivered, result
    assert (result.status_code, result.status) == (201, "201 Created")
    [request] = harness.receiver.requests
    assert request.path == "/push/v2/sub-kong-wei-phone"
    assert request.headers["content-encoding"] == "aes128gcm"
    assert request.headers["content-type"] == "application/octet-stream"
    assert request.headers["ttl"] == str(6 * 3600)
    assert request.headers["urgency"] == "high"  # critical
    assert b"\xe6\x9b\xb2" not in request.body  # 曲 in UTF-8: the body is ciphertext, not JSON
    assert decrypted(harness) == {
        "event": "alert.opened",
        "delivery_id": "d-1",
        "sent_at": "2026-11-27T10:00:00.120+08:00",
        "alert": BODY["alert"],
    }
    claims = verify_vapid(request.headers["authorization"], harness.vapid_public_b64)
    endpoint = urlsplit(harness.receiver.url())
    assert claims["aud"] == f"{endpoint.scheme}://{endpoint.netloc}" == f"http://127.0.0.1:{harness.receiver.port}"
    assert claims["sub"] == "mailto:ops@relic-guard.example"
    assert claims["exp"] == int((SENT_AT + timedelta(hours=12)).timestamp())


async def test_202_is_delivered_and_non_critical_is_normal_urgency(harness: WebPushHarness) -> None:
    harness.receiver.script(Reply(status=202))
    body = {"alert": {**BODY["alert"], "severity": "minor"}}  # type: ignore[dict-item]
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-2", event="alert.reminder", body=body))
    assert result.delivered
    assert harness.receiver.requests[0].headers["urgency"] == "normal"


@pytest.mark.parametrize("code", [404, 410])
async def test_a_gone_subscription_is_permanent_and_says_drop_it(harness: WebPushHarness, code: int) -> None:
    harness.receiver.script(Reply(status=code, body=b"no such subscription"))
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-g", event="alert.opened", body=BODY))
    assert not result.delivered
    assert not result.retryable
    assert result.status_code == code
    assert "subscription gone" in result.status
    assert is_subscription_gone(result)


@pytest.mark.parametrize(
    ("code", "retryable"),
    [(429, True), (500, True), (503, True), (400, False), (403, False), (413, False), (301, False)],
)
async def test_other_answers(harness: WebPushHarness, code: int, retryable: bool) -> None:
    harness.receiver.script(Reply(status=code, headers={"Retry-After": "7"}, body=b"VapidPkHashMismatch"))
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-o", event="alert.opened", body=BODY))
    assert not result.delivered
    assert result.retryable is retryable
    assert result.status_code == code
    assert not is_subscription_gone(result)
    assert result.retry_after_s == (7.0 if retryable else None)
    assert "VapidPkHashMismatch" in result.status


async def test_a_large_alert_is_trimmed_below_the_push_limit(harness: WebPushHarness) -> None:
    alert = dict(BODY["alert"])  # type: ignore[call-overload]
    alert["evidence"] = [{"kind": "snapshot", "url": f"https://relic.example/s/{i:04d}.jpg"} for i in range(300)]
    alert["title"] = "大成殿 东侧回廊 烟感报警（未确认）" + "，现场浓烟" * 40
    result = await harness.channel.deliver(
        harness.delivery(delivery_id="d-big", event="alert.opened", body={"alert": alert})
    )
    assert result.delivered, result
    [request] = harness.receiver.requests
    assert len(request.body) <= MAX_ENCRYPTED_BYTES
    plaintext = harness.subscriber.decrypt(request.body)
    assert len(plaintext) <= MAX_PAYLOAD_BYTES
    got = json.loads(plaintext)["alert"]
    assert got["title"] == alert["title"]  # the evidence went first
    assert 0 < len(got["evidence"]) < 300
    assert got["evidence_omitted"] == 300 - len(got["evidence"])
    assert got["evidence"] == alert["evidence"][: len(got["evidence"])]
    assert (got["site"]["name"], got["ack_url"], got["severity"]) == ("曲阜孔庙", alert["ack_url"], "critical")


def test_essentials_survive_when_even_the_title_must_be_cut() -> None:
    alert = dict(BODY["alert"])  # type: ignore[call-overload]
    alert["title"] = "烟" * 5000
    alert["device"] = "x" * 10_000
    delivery = Delivery(
        delivery_id="d-huge", event="alert.escalated", recipient="r", target="{}", body={"alert": alert}
    )
    raw = build_payload(delivery, "2026-11-27T10:00:00.120+08:00")
    assert MAX_PAYLOAD_BYTES - 3 <= len(raw) <= MAX_PAYLOAD_BYTES  # filled to the byte, give or take one character
    got = json.loads(raw)
    assert (got["event"], got["delivery_id"]) == ("alert.escalated", "d-huge")
    assert got["alert"]["title"].startswith("烟烟烟") and got["alert"]["title"].endswith("…")
    assert got["alert"]["trimmed"] is True
    assert "device" not in got["alert"]
    assert got["alert"]["site"] == {"id": "qufu-kongmiao", "name": "曲阜孔庙"}
    assert got["alert"]["ack_url"] == alert["ack_url"]
    alert["ack_url"] = "https://relic.example/ack/" + "z" * 5000
    with pytest.raises(ValueError, match="exceeds"):
        build_payload(delivery, "t")


@pytest.mark.parametrize(
    "target",
    [
        "not json",
        "[]",
        '{"keys": {"p256dh": "x", "auth": "y"}}',
        '{"endpoint": "ftp://push.example/x", "keys": {"p256dh": "x", "auth": "y"}}',
        '{"endpoint": "https://push.example/x"}',
        '{"endpoint": "https://push.example/x", "keys": {"p256dh": "AAAA", "auth": "AAAA"}}',
    ],
)
async def test_an_unusable_subscription_is_permanent(harness: WebPushHarness, target: str) -> None:
    delivery = Delivery(delivery_id="d-bad", event="alert.opened", recipient="r", target=target, body=BODY)
    result = await harness.channel.deliver(delivery)
    assert not result.delivered
    assert not result.retryable
    assert result.status.startswith("not sent: ")
    assert harness.receiver.requests == []


def test_vapid_keys_load_in_every_common_form() -> None:
    pem, public = generate_vapid_keys()
    key = load_vapid_private_key(pem)
    assert public_key_b64url(key) == public
    assert len(b64d(public)) == 65 and b64d(public)[0] == 4  # uncompressed P-256 point
    raw = key.private_numbers().private_value.to_bytes(32, "big")
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for text in (
        base64.urlsafe_b64encode(raw).decode().rstrip("="),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(der).decode(),
        "\n" + pem + "\n",
    ):
        assert public_key_b64url(load_vapid_private_key(text)) == public
    for bad in (
        rsa.generate_private_key(65537, 2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
        ec.generate_private_key(ec.SECP384R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    ):
        with pytest.raises(ValueError, match="P-256"):
            load_vapid_private_key(bad.decode())
    with pytest.raises(ValueError):
        load_vapid_private_key("!!! not a key !!!")


async def test_construction_checks_its_configuration() -> None:
    pem, public = generate_vapid_keys()
    channel = WebPushChannel(pem, "https://relic-guard.example", timeout_s=TIMEOUT_S)
    assert channel.public_key == public
    assert "PRIVATE" not in repr(channel)
    await channel.aclose()
    with pytest.raises(ValueError, match="sub"):
        WebPushChannel(pem, "ops@relic-guard.example", timeout_s=TIMEOUT_S)
    with pytest.raises(ValueError, match="timeout_s"):
        WebPushChannel(pem, "mailto:ops@relic-guard.example", timeout_s=0)

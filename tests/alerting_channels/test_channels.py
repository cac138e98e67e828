"""The channel set built from [alerts]: secrets resolved from their references, every kind of
target made ready (or refused with the reason the fallback needs), deliveries through real local
receivers (HTTP, SMTP, a push service), key files created once and kept."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from alerts.channels import apprise_channel
from alerts.channels.base import Delivery, RetryPolicy, deliver_with_retries
from alerts.channels.webhook import verify_signature
from alerts.routing import ChannelTarget
from relic_guard.alerting.channels import (
    NO_SMTP_STATUS,
    SECRET_PLACEHOLDER,
    ChannelSet,
    MemoryPushSubscriptions,
    SecretError,
    SecretNotVisible,
    load_or_create_ack_key,
    load_or_create_vapid_key,
    open_channels,
    resolve_secret,
)
from relic_guard.alerting.dispatch import Resolved
from relic_guard.alerting.thresholds_load import retry_policy
from relic_guard.config import AlertsConfig
from relic_guard.errors import ConfigError
from tests.alerts_channels.harness import PushSubscriber
from tests.alerts_channels.receiver import Receiver
from tests.alerts_channels.smtp_receiver import SmtpReceiver
from tests.alerts_channels.test_channel_contract import BODY

WEBHOOK_SECRET = "whsec-文物-0123456789"
BOT_TOKEN = "bot-token-ABCDEF0123"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def config(tmp_path: Path) -> AlertsConfig:
    return AlertsConfig(
        vapid_key_file=tmp_path / "keys" / "vapid.pem",
        vapid_subject="mailto:ops@relic-guard.test",
        delivery_timeout_s=2.0,
        delivery_max_attempts=2,
        delivery_base_delay_s=0.0,
        delivery_max_delay_s=0.01,
    )


@pytest.fixture
async def channels(config: AlertsConfig) -> AsyncIterator[ChannelSet]:
    env = {"HOOK_SECRET": WEBHOOK_SECRET, "BOT_TOKEN": BOT_TOKEN}
    async with httpx.AsyncClient() as client:
        made = open_channels(config, client=client, env=env)
        yield made
        await made.aclose()


def delivery(resolved: Resolved, delivery_id: str = "d-1") -> Delivery:
    return Delivery(
        delivery_id=delivery_id,
        event="alert.opened",
        recipient="jinan-jkzx",
        target=resolved.target,
        secret=resolved.secret,
        body=BODY,
    )


def ready(found: Resolved | str) -> Resolved:
    assert isinstance(found, Resolved), found
    return found


# Secrets ------------------------------------------------------------------------------------------


def test_secret_from_the_environment() -> None:
    assert resolve_secret("env:HOOK", env={"HOOK": "火-secret"}) == "火-secret".encode()
    assert resolve_secret(None, env={}) == b""


def test_unset_variable_is_not_visible_and_names_the_reference() -> None:
    with pytest.raises(SecretNotVisible) as caught:
        resolve_secret("env:RELIC_GUARD_SECRET_119", env={"OTHER": "x"})
    assert str(caught.value).startswith(
        'secret_ref "env:RELIC_GUARD_SECRET_119": environment variable RELIC_GUARD_SECRET_119 is not set; set it'
    )


def test_empty_variable_is_an_error() -> None:
    with pytest.raises(SecretError) as caught:
        resolve_secret("env:HOOK", env={"HOOK": ""})
    assert not isinstance(caught.value, SecretNotVisible)
    assert "is empty; put the secret in it" in str(caught.value)


def test_secret_from_a_file_without_its_line_break(tmp_path: Path) -> None:
    path = tmp_path / "hook.secret"
    path.write_bytes(b"s3cret \xe7\x81\xab\r\n")
    assert resolve_secret(f"file:{path}") == b"s3cret \xe7\x81\xab"


def test_missing_and_empty_files_are_errors(tmp_path: Path) -> None:
    missing = tmp_path / "none"
    with pytest.raises(SecretError) as caught:
        resolve_secret(f"file:{missing}")
    assert not isinstance(caught.value, SecretNotVisible)
    assert str(caught.value) == (
        f'secret_ref "file:{missing}": no such file; create it (readable only by the service\'s user) or fix the path'
    )
    empty = tmp_path / "empty"
    empty.write_bytes(b"\n")
    with pytest.raises(SecretError, match="the file is empty"):
        resolve_secret(f"file:{empty}")


def test_unreadable_file_is_not_visible(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    path.write_text("x", encoding="ascii")
    path.chmod(0)
    if os.geteuid() != 0:
        with pytest.raises(SecretNotVisible, match="this user may not read the file"):
            resolve_secret(f"file:{path}")
        return
    # Root reads every file: check as an unprivileged user, in a forked child (exit code = verdict).
    tmp_path.chmod(0o755)
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        verdict = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            resolve_secret(f"file:{path}")
        except SecretNotVisible as exc:
            verdict = 0 if "this user may not read the file" in str(exc) else 2
        except BaseException:
            verdict = 3
        os._exit(verdict)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("ref", ["hunter2-the-secret", "vault:hunter2", "env:", "file:"])
def test_not_a_reference_never_echoes_what_was_written(ref: str) -> None:
    with pytest.raises(SecretError) as caught:
        resolve_secret(ref, env={})
    assert "hunter2" not in str(caught.value)
    assert "neither env:VARIABLE nor file:/path" in str(caught.value)


# Webhook --------------------------------------------------------------------------------------------


async def test_webhook_delivery_is_signed_with_the_secret_from_the_environment(
    channels: ChannelSet, config: AlertsConfig, receiver: Receiver
) -> None:
    target = ChannelTarget(kind="webhook", target=receiver.url(), secret_ref="env:HOOK_SECRET")
    resolved = ready(channels.resolve(target))
    assert resolved.channel is channels.channel("webhook")
    assert resolved.target == receiver.url()
    assert WEBHOOK_SECRET not in repr(resolved)

    outcome = await deliver_with_retries(resolved.channel, delivery(resolved), retry_policy(config))
    assert outcome.delivered, outcome
    [request] = receiver.requests
    signature = request.headers["x-relic-guard-signature"]
    assert verify_signature(WEBHOOK_SECRET.encode("utf-8"), request.body, signature)
    assert not verify_signature(b"another secret", request.body, signature)
    assert json.loads(request.body)["alert"] == BODY["alert"]
    assert request.headers["x-relic-guard-delivery"] == "d-1"


async def test_webhook_with_an_unset_secret_fails_permanently_with_the_reason(channels: ChannelSet) -> None:
    target = ChannelTarget(kind="webhook", target="https://119.example.cn/hook", secret_ref="env:RELIC_GUARD_SECRET_119")
    found = channels.resolve(target)
    assert isinstance(found, str)
    assert found.startswith(
        'secret unavailable: secret_ref "env:RELIC_GUARD_SECRET_119": environment variable RELIC_GUARD_SECRET_119 '
        "is not set"
    )


async def test_webhook_without_a_secret_is_refused(channels: ChannelSet) -> None:
    found = channels.resolve(ChannelTarget(kind="webhook", target="https://u:pw@119.example.cn/hook"))
    assert found == "https://u:***@119.example.cn/hook: a webhook needs a signing secret; add secret_ref to the channel"


# Apprise ---------------------------------------------------------------------------------------------


def test_placeholder_is_the_apprise_channels() -> None:
    assert SECRET_PLACEHOLDER == apprise_channel.SECRET_PLACEHOLDER


async def test_apprise_secret_is_substituted_on_the_wire_and_nowhere_else(
    channels: ChannelSet, config: AlertsConfig, receiver: Receiver
) -> None:
    url = f"json://127.0.0.1:{receiver.port}/im/{{secret}}"
    resolved = ready(channels.resolve(ChannelTarget(kind="apprise", target=url, secret_ref="env:BOT_TOKEN")))
    assert resolved.target == url  # what the delivery (and its record) holds: the token left out
    assert resolved.secret == BOT_TOKEN.encode()
    outcome = await deliver_with_retries(resolved.channel, delivery(resolved), retry_policy(config))
    assert outcome.delivered, outcome
    [request] = receiver.requests
    assert request.path == f"/im/{BOT_TOKEN}"
    assert all(BOT_TOKEN not in attempt.status for attempt in outcome.attempts)


async def test_apprise_placeholder_without_a_secret_is_refused(channels: ChannelSet) -> None:
    found = channels.resolve(ChannelTarget(kind="apprise", target="wecombot://{secret}"))
    assert found == "wecombot://{secret} needs a secret for {secret} but names none; add secret_ref to the channel"


async def test_apprise_without_placeholder_needs_no_secret(channels: ChannelSet) -> None:
    sms = "json://sms-gw.relic.local/send?+X-Phone=13800000101"
    assert channels.resolve(ChannelTarget(kind="apprise", target=sms)) == Resolved(channels.channel("apprise"), sms)


# Web Push ----------------------------------------------------------------------------------------------


async def test_webpush_without_a_registered_subscription_fails_so_the_fallback_takes_over(
    channels: ChannelSet,
) -> None:
    found = channels.resolve(ChannelTarget(kind="webpush", target="sub-wangjianguo"))
    assert found == (
        "no push subscription registered for sub-wangjianguo; the custodian must open the mobile page and allow "
        "notifications"
    )


async def test_webpush_to_a_registered_subscription_reaches_the_push_service(
    channels: ChannelSet, config: AlertsConfig, receiver: Receiver
) -> None:
    phone = PushSubscriber()
    subscription = phone.subscription(receiver.url("/push/v2/wangjianguo-phone"))
    channels.subscriptions.register("sub-wangjianguo", subscription)
    resolved = ready(channels.resolve(ChannelTarget(kind="webpush", target="sub-wangjianguo")))
    assert resolved.target == subscription and resolved.secret == b""
    outcome = await deliver_with_retries(resolved.channel, delivery(resolved), retry_policy(config))
    assert outcome.delivered, outcome
    [request] = receiver.requests
    assert request.path == "/push/v2/wangjianguo-phone"
    assert request.headers["authorization"].startswith("vapid t=")
    assert request.headers["authorization"].endswith(f"k={channels.vapid_public_key}")
    payload = json.loads(phone.decrypt(request.body))
    assert payload["delivery_id"] == "d-1" and payload["alert"]["id"] == BODY["alert"]["id"]  # type: ignore[index]

    channels.subscriptions.remove("sub-wangjianguo")
    assert isinstance(channels.resolve(ChannelTarget(kind="webpush", target="sub-wangjianguo")), str)


def test_subscription_registry_refuses_what_could_never_be_pushed_to() -> None:
    registry = MemoryPushSubscriptions()
    with pytest.raises(ValueError, match="not a subscription id"):
        registry.register("sub wang", PushSubscriber().subscription("https://push.example/x"))
    with pytest.raises(ValueError, match="subscription lacks keys"):
        registry.register("sub-wang", json.dumps({"endpoint": "https://push.example/x"}))
    assert registry.get("sub-wang") is None and len(registry) == 0


# E-mail --------------------------------------------------------------------------------------------------


async def test_email_without_smtp_url_fails_permanently(channels: ChannelSet) -> None:
    assert not channels.email_configured
    assert channels.resolve(ChannelTarget(kind="email", target="duty@wwj.jinan.example.cn")) == NO_SMTP_STATUS
    assert NO_SMTP_STATUS == "no SMTP server configured ([alerts] smtp_url)"
    sent = Delivery(
        delivery_id="d-1", event="alert.opened", recipient="jinan-wwj", target="duty@wwj.jinan.example.cn", body=BODY
    )
    outcome = await deliver_with_retries(channels.channel("email"), sent, RetryPolicy(max_attempts=3))
    assert not outcome.delivered and outcome.gave_up == "permanent failure"
    assert outcome.last.status == NO_SMTP_STATUS and len(outcome.attempts) == 1


async def test_email_through_the_configured_server(tmp_path: Path) -> None:
    with SmtpReceiver(credentials=("alerts", "pa:ss")) as smtp:
        config = AlertsConfig(
            smtp_url=f"smtp://alerts:pa%3Ass@127.0.0.1:{smtp.port}",
            email_from="文物安全告警 <relic-guard@wwj.jinan.example.cn>",
            vapid_key_file=tmp_path / "vapid.pem",
            delivery_timeout_s=5.0,
        )
        channels = open_channels(config)
        try:
            assert channels.email_configured
            resolved = ready(channels.resolve(ChannelTarget(kind="email", target="duty@wwj.jinan.example.cn")))
            result = await resolved.channel.deliver(delivery(resolved))
        finally:
            await channels.aclose()
        assert result.delivered, result
        [mail] = smtp.mails
        assert mail.rcpt_tos == ("duty@wwj.jinan.example.cn",)
        assert mail.mail_from == "relic-guard@wwj.jinan.example.cn"
        assert mail.login == "alerts"


# Key files and the client --------------------------------------------------------------------------------


async def test_vapid_key_is_created_private_once_and_kept(config: AlertsConfig) -> None:
    first = open_channels(config)
    await first.aclose()
    mode = stat.S_IMODE(config.vapid_key_file.stat().st_mode)
    assert mode == 0o600
    second = open_channels(config)
    await second.aclose()
    assert second.vapid_public_key == first.vapid_public_key
    assert load_or_create_vapid_key(config.vapid_key_file).startswith("-----BEGIN PRIVATE KEY-----")


def test_unusable_vapid_key_file_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "vapid.pem"
    path.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", encoding="ascii")
    with pytest.raises(ConfigError) as caught:
        open_channels(AlertsConfig(vapid_key_file=path))
    assert caught.value.problems[0].startswith(f"{path}: not a Web Push (VAPID) private key")


def test_bad_vapid_subject_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bad VAPID claims"):
        open_channels(AlertsConfig(vapid_key_file=tmp_path / "vapid.pem", vapid_subject="ops"))


def test_ack_key_is_created_private_once_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "var" / "ack.key"
    key = load_or_create_ack_key(path)
    assert len(key) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_ack_key(path) == key
    path.write_text("00ff\n", encoding="ascii")
    with pytest.raises(ConfigError, match="not an acknowledge-link key"):
        load_or_create_ack_key(path)


async def test_own_client_is_closed_a_shared_one_is_not(config: AlertsConfig) -> None:
    own = open_channels(config)
    await own.aclose()
    assert own._client.is_closed
    async with httpx.AsyncClient() as shared:
        made = open_channels(config, client=shared)
        await made.aclose()
        assert not shared.is_closed

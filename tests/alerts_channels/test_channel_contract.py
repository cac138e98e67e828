"""The suite every channel passes, each against a real receiver of its own kind (see harness.py).

A channel joins by adding its harness to `HARNESSES`; nothing here names a channel.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from typing import get_args

import pytest

from alerts.channels.base import Channel, DeliveryEvent, RetryPolicy, deliver_with_retries
from tests.alerts_channels.harness import HARNESSES, TIMEOUT_S, ChannelHarness

POLICY = RetryPolicy(max_attempts=4, base_delay_s=1.0, max_delay_s=8.0)
BODY: dict[str, object] = {
    "alert": {
        "id": "a-20261127-0001",
        "status": "open",
        "category": "fire",
        "severity": "critical",
        "title": "大成殿 烟感报警（未确认）",
        "opened_at": "2026-11-27T10:00:00.012+08:00",
        "site": {
            "id": "qufu-kongmiao",
            "name": "曲阜孔庙",
            "district": "曲阜市",
            "level": "世界文化遗产",
            "lat": 35.5967,
            "lon": 116.9914,
        },
        "device": "fire-panel-01",
        "evidence": [{"kind": "snapshot", "url": "https://relic.example/s/1.jpg"}],
        "ack_url": "https://relic.example/ack/xyz",
    }
}


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture(params=sorted(HARNESSES))
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[ChannelHarness]:
    async with HARNESSES[request.param]() as h:
        yield h


def test_implements_the_channel_protocol(harness: ChannelHarness) -> None:
    assert isinstance(harness.channel, Channel)
    assert harness.channel.name == harness.name


@pytest.mark.parametrize("event", get_args(DeliveryEvent))
async def test_delivers_to_a_live_receiver(harness: ChannelHarness, event: DeliveryEvent) -> None:
    delivery = harness.delivery(delivery_id=f"d-{event}", event=event, body=BODY)
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(harness.channel, delivery, POLICY, sleep=sleep)
    assert outcome.delivered, outcome
    assert outcome.gave_up is None
    assert [(r.delivered, r.attempt) for r in outcome.attempts] == [(True, 1)]
    assert sleep.delays == []
    [got] = harness.received()
    assert (got.delivery_id, got.event) == (f"d-{event}", event)
    assert got.body["alert"] == BODY["alert"]  # Chinese text intact, nothing lost


async def test_permanent_failure_is_reported_without_retrying(harness: ChannelHarness) -> None:
    harness.refuse_permanently()
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(
        harness.channel, harness.delivery(delivery_id="d-perm", event="alert.opened", body=BODY), POLICY, sleep=sleep
    )
    assert not outcome.delivered
    assert outcome.last.status  # says why, for the operator
    if harness.knows_permanent_failures:
        assert outcome.gave_up == "permanent failure"
        assert [(r.delivered, r.retryable, r.attempt) for r in outcome.attempts] == [(False, False, 1)]
        assert sleep.delays == []
        assert len(harness.received()) == 1
    else:
        # It cannot tell a refusal from a passing failure: it retries, then gives up (and the
        # caller's fallback channel takes over) rather than ever reporting a false success.
        assert outcome.gave_up == "attempts exhausted"
        assert [(r.delivered, r.retryable) for r in outcome.attempts] == [(False, True)] * POLICY.max_attempts
        assert len(sleep.delays) == POLICY.max_attempts - 1


async def test_retryable_failures_then_success_after_recovery(harness: ChannelHarness) -> None:
    harness.fail_transiently(2)
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(
        harness.channel,
        harness.delivery(delivery_id="d-flaky", event="alert.escalated", body=BODY),
        POLICY,
        sleep=sleep,
        rng=random.Random(7),
    )
    assert outcome.delivered
    assert [(r.delivered, r.retryable, r.attempt) for r in outcome.attempts] == [
        (False, True, 1),
        (False, True, 2),
        (True, False, 3),
    ]
    assert len(sleep.delays) == 2
    assert all(0 <= d <= POLICY.max_delay_s for d in sleep.delays)
    received = harness.received()
    assert len(received) == 3
    assert {r.delivery_id for r in received} == {"d-flaky"}  # one id across retries: receivers dedupe by it


async def test_retries_stop_when_attempts_run_out(harness: ChannelHarness) -> None:
    harness.fail_transiently(10)
    sleep = SleepRecorder()
    outcome = await deliver_with_retries(
        harness.channel, harness.delivery(delivery_id="d-down", event="alert.opened", body=BODY), POLICY, sleep=sleep
    )
    assert not outcome.delivered
    assert outcome.gave_up == "attempts exhausted"
    assert [r.attempt for r in outcome.attempts] == [1, 2, 3, 4]
    assert len(sleep.delays) == 3
    assert len(harness.received()) == 4


async def test_network_errors_are_results_not_exceptions(harness: ChannelHarness) -> None:
    delivery = harness.unreachable(delivery_id="d-nowhere")
    result = await harness.channel.deliver(delivery)
    assert not result.delivered
    assert result.retryable
    assert result.status
    outcome = await deliver_with_retries(harness.channel, delivery, POLICY, sleep=SleepRecorder())
    assert outcome.gave_up == "attempts exhausted"
    assert len(outcome.attempts) == POLICY.max_attempts


async def test_a_stalled_receiver_times_out_as_retryable(harness: ChannelHarness) -> None:
    harness.stall_next(TIMEOUT_S * 4)
    started = time.monotonic()
    result = await harness.channel.deliver(harness.delivery(delivery_id="d-slow", event="alert.opened", body=BODY))
    elapsed = time.monotonic() - started
    assert not result.delivered
    assert result.retryable
    assert elapsed < TIMEOUT_S * 3, elapsed
    # The receiver recovers: the same delivery goes through on the next attempt.
    again = await harness.channel.deliver(harness.delivery(delivery_id="d-slow", event="alert.opened", body=BODY))
    assert again.delivered


async def test_concurrent_deliveries_all_arrive_once(harness: ChannelHarness) -> None:
    deliveries = [harness.delivery(delivery_id=f"d-c{i}", event="alert.opened", body=BODY) for i in range(25)]
    results = await asyncio.gather(*(harness.channel.deliver(d) for d in deliveries))
    assert all(r.delivered for r in results), [r.status for r in results if not r.delivered]
    assert sorted(r.delivery_id for r in harness.received()) == sorted(d.delivery_id for d in deliveries)

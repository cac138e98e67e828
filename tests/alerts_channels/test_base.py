"""The pure parts of the channel interface: delivery values, the backoff, the retry loop."""

from __future__ import annotations

import random
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alerts.channels import (
    EVENTS,
    Delivery,
    DeliveryResult,
    InvalidDelivery,
    RetryPolicy,
    deliver_with_retries,
)
from alerts.errors import AlertsError


def _delivery(**overrides: object) -> Delivery:
    fields: dict[str, object] = {
        "delivery_id": "d-1",
        "event": "alert.opened",
        "recipient": "custodian:li-na",
        "target": "https://example.org/hook",
        "secret": b"top secret",
        "body": {"alert": {"id": "a-1"}},
    }
    fields.update(overrides)
    return Delivery(**fields)  # type: ignore[arg-type]


class FixedRandom:
    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


class ScriptedChannel:
    """A channel answering from a list: results by (delivered, retryable, retry_after_s), or exceptions."""

    name = "scripted"

    def __init__(self, *script: tuple[bool, bool, float | None] | BaseException) -> None:
        self.script = deque(script)
        self.seen: list[Delivery] = []

    async def deliver(self, delivery: Delivery) -> DeliveryResult:
        self.seen.append(delivery)
        step = self.script.popleft()
        if isinstance(step, BaseException):
            raise step
        delivered, retryable, retry_after = step
        return DeliveryResult(
            delivered=delivered, status="scripted", attempt=99, retryable=retryable, retry_after_s=retry_after
        )


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


OK = (True, False, None)
FAIL = (False, True, None)
REFUSED = (False, False, None)


# --- Delivery -----------------------------------------------------------------------------------


def test_events_are_the_contract_five() -> None:
    assert (
        frozenset({"alert.opened", "alert.escalated", "alert.reminder", "alert.acknowledged", "alert.resolved"})
        == EVENTS
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"event": "alert.deleted"}, "unknown event"),
        ({"delivery_id": ""}, "delivery_id"),
        ({"target": ""}, "no target"),
        ({"body": {"event": "alert.resolved"}}, "body says event"),
        ({"attempt": 0}, "attempt"),
    ],
)
def test_invalid_deliveries(overrides: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidDelivery, match=message) as caught:
        _delivery(**overrides)
    assert isinstance(caught.value, AlertsError)
    assert isinstance(caught.value, ValueError)


def test_body_may_repeat_its_event() -> None:
    assert _delivery(body={"event": "alert.opened", "alert": {}}).event == "alert.opened"


def test_secret_never_in_repr() -> None:
    assert "top secret" not in repr(_delivery())


def test_delivered_result_cannot_be_retryable() -> None:
    with pytest.raises(ValueError):
        DeliveryResult(delivered=True, status="200 OK", attempt=1, retryable=True)


# --- RetryPolicy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("attempt", "cap"),
    [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 8.0), (6, 10.0), (7, 10.0), (100, 10.0), (10_000, 10.0)],
)
def test_cap_table(attempt: int, cap: float) -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=0.5, max_delay_s=10.0)
    assert policy.cap_for(attempt) == cap
    assert RetryPolicy(base_delay_s=0.5, max_delay_s=10.0, jitter=False).delay_for(attempt, FixedRandom(0.0)) == cap


@pytest.mark.parametrize(("draw", "expected"), [(0.0, 0.0), (0.25, 1.0), (0.999, 3.996)])
def test_full_jitter_scales_the_cap(draw: float, expected: float) -> None:
    policy = RetryPolicy(base_delay_s=0.5, max_delay_s=10.0)
    assert policy.delay_for(4, FixedRandom(draw)) == pytest.approx(expected)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_attempts": 0},
        {"base_delay_s": -1.0},
        {"base_delay_s": 5.0, "max_delay_s": 1.0},
    ],
)
def test_invalid_policies(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]


def test_attempt_counts_from_one() -> None:
    with pytest.raises(ValueError):
        RetryPolicy().cap_for(0)


policies = st.builds(
    lambda base, extra, jitter: RetryPolicy(base_delay_s=base, max_delay_s=base + extra, jitter=jitter),
    st.floats(min_value=0, max_value=1e6),
    st.floats(min_value=0, max_value=1e6),
    st.booleans(),
)


@given(policy=policies, attempt=st.integers(min_value=1, max_value=100_000), seed=st.integers())
def test_delays_are_bounded(policy: RetryPolicy, attempt: int, seed: int) -> None:
    delay = policy.delay_for(attempt, random.Random(seed))
    assert 0 <= delay <= policy.cap_for(attempt) <= policy.max_delay_s


@given(policy=policies, attempt=st.integers(min_value=1, max_value=100_000))
def test_cap_never_decreases(policy: RetryPolicy, attempt: int) -> None:
    assert policy.cap_for(attempt) <= policy.cap_for(attempt + 1)
    assert policy.cap_for(1) == policy.base_delay_s


# --- deliver_with_retries -----------------------------------------------------------------------


async def test_retries_keep_the_delivery_id_and_count_attempts() -> None:
    channel = ScriptedChannel(FAIL, FAIL, OK)
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=60.0, jitter=False)
    outcome = await deliver_with_retries(channel, _delivery(), policy, sleep=sleeps)
    assert outcome.delivered
    assert [d.attempt for d in channel.seen] == [1, 2, 3]
    assert {d.delivery_id for d in channel.seen} == {"d-1"}
    assert [r.attempt for r in outcome.attempts] == [1, 2, 3]  # the loop's count wins over the channel's
    assert sleeps.delays == [1.0, 2.0]


async def test_retry_after_lengthens_but_never_shortens_the_wait() -> None:
    channel = ScriptedChannel((False, True, 7.0), (False, True, 0.0), OK)
    sleeps = Sleeps()
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=60.0, jitter=False)
    outcome = await deliver_with_retries(channel, _delivery(), policy, sleep=sleeps)
    assert outcome.delivered
    assert sleeps.delays == [7.0, 2.0]


async def test_retry_after_beyond_the_max_delay_hands_over_to_the_fallback() -> None:
    channel = ScriptedChannel((False, True, 3600.0), OK)
    sleeps = Sleeps()
    outcome = await deliver_with_retries(channel, _delivery(), RetryPolicy(max_delay_s=30.0), sleep=sleeps)
    assert not outcome.delivered
    assert outcome.gave_up == "retry-after exceeds max delay"
    assert sleeps.delays == []
    assert len(channel.seen) == 1


async def test_no_sleep_after_the_last_attempt() -> None:
    channel = ScriptedChannel(FAIL, FAIL)
    sleeps = Sleeps()
    outcome = await deliver_with_retries(channel, _delivery(), RetryPolicy(max_attempts=2), sleep=sleeps)
    assert outcome.gave_up == "attempts exhausted"
    assert len(sleeps.delays) == 1


async def test_single_attempt_policy() -> None:
    outcome = await deliver_with_retries(
        ScriptedChannel(FAIL), _delivery(), RetryPolicy(max_attempts=1), sleep=Sleeps()
    )
    assert outcome.gave_up == "attempts exhausted"
    assert len(outcome.attempts) == 1


async def test_a_raising_channel_is_a_permanent_failure(caplog: pytest.LogCaptureFixture) -> None:
    channel = ScriptedChannel(RuntimeError("bug in channel"), OK)
    outcome = await deliver_with_retries(channel, _delivery(), RetryPolicy(), sleep=Sleeps())
    assert not outcome.delivered
    assert outcome.gave_up == "permanent failure"
    assert "RuntimeError: bug in channel" in outcome.last.status
    assert "scripted raised on delivery d-1" in caplog.text


async def test_cancellation_propagates() -> None:
    import asyncio

    channel = ScriptedChannel(asyncio.CancelledError())
    with pytest.raises(asyncio.CancelledError):
        await deliver_with_retries(channel, _delivery(), RetryPolicy(), sleep=Sleeps())


async def test_jittered_delays_come_from_the_injected_rng() -> None:
    policy = RetryPolicy(max_attempts=4, base_delay_s=2.0, max_delay_s=60.0)
    first, second = Sleeps(), Sleeps()
    await deliver_with_retries(ScriptedChannel(FAIL, FAIL, FAIL, OK), _delivery(), policy, first, random.Random(3))
    await deliver_with_retries(ScriptedChannel(FAIL, FAIL, FAIL, OK), _delivery(), policy, second, random.Random(3))
    assert first.delays == second.delays
    assert [d <= c for d, c in zip(first.delays, (2.0, 4.0, 8.0), strict=True)] == [True] * 3

"""The live alert queue (GET /events) against a real AlertService, served by uvicorn."""

from __future__ import annotations

import time

import httpx
import pytest

from relic_guard.dashboard.live import LiveFeed
from sensors.model import Event, Source
from tests.alerting_api.conftest import OTHER, TOKENS, World, client_for, make_world
from tests.alerts.support import SITE

from .conftest import Live, SseReader, live_app, screen, serve, until


def repeat(world: World, n: int, site_id: str = SITE, device: str = "d1") -> None:
    """`n` alert changes: the same fire alarm reported again and again (count goes up)."""
    for _ in range(n):
        world.later(1)
        at = world.clock()
        world.service.on_record(Event(site_id, device, Source.FIRE, "fire_alarm", at, f"{device}:{at.timestamp()}"))


# Connecting ----------------------------------------------------------------------------------


async def test_snapshot_comes_first_with_the_open_alerts_and_their_labels(live: Live) -> None:
    here = live.world.fire()
    live.world.later(1)
    there = live.world.fire(OTHER, "f1")
    async with httpx.AsyncClient(base_url=live.url) as client, screen(client, "op-token") as sse:
        headers = sse.response.headers
        assert headers["content-type"].startswith("text/event-stream")
        assert headers["cache-control"] == "no-store"
        assert headers["x-accel-buffering"] == "no"
        first = await sse.next()
        assert first.retry == 3000
        assert first.event is None
        snapshot = await sse.next()
        assert snapshot.event == "snapshot"
        assert snapshot.id is not None and int(snapshot.id) >= 1
        alerts = snapshot.json()["alerts"]
        # Oldest first within a severity (both are critical fire alarms).
        assert [a["id"] for a in alerts] == [here.id, there.id]
        assert alerts[0]["labels"] == {"severity": "紧急", "category": "火警", "status": "待响应"}
        assert alerts[1]["site"]["name"] == "灵岩寺"


async def test_last_event_id_is_answered_with_a_fresh_snapshot(live: Live) -> None:
    alert = live.world.fire()
    async with httpx.AsyncClient(base_url=live.url) as client, \
            screen(client, "op-token", **{"Last-Event-ID": "12345"}) as sse:
        snapshot = await sse.next_event()
        assert snapshot.event == "snapshot"
        assert [a["id"] for a in snapshot.json()["alerts"]] == [alert.id]


async def test_a_new_alert_arrives_within_a_second_with_a_higher_id(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client, screen(client, "op-token") as sse:
        snapshot = await sse.next_event()
        assert snapshot.json() == {"alerts": []}
        started = time.monotonic()
        alert = live.world.fire()
        event = await sse.next_event(timeout=1.0)
        assert time.monotonic() - started < 1.0
        assert event.event == "alert"
        assert event.id is not None and snapshot.id is not None and int(event.id) > int(snapshot.id)
        assert len(event.data) == 1  # one line of JSON
        body = event.json()
        assert body["id"] == alert.id
        assert body["status"] == "open"
        assert body["labels"]["status"] == "待响应"

        # Acknowledged, then closed: the page moves the row, then removes it.
        live.world.service.acknowledge(alert.id, "user:ops")
        acked = await sse.next_event(timeout=1.0)
        assert acked.json()["status"] == "acknowledged"
        live.world.service.resolve(alert.id, "user:ops", classification=None)
        closed = await sse.next_event(timeout=1.0)
        assert closed.json()["status"] == "false_alarm"
        assert acked.id is not None and closed.id is not None and int(closed.id) > int(acked.id) > int(event.id)


async def test_every_screen_gets_the_same_change_under_the_same_id(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client, \
            screen(client, "op-token") as one, screen(client, "supervisor-token") as two:
        await one.next_event()
        await two.next_event()
        alert = live.world.fire()
        first, second = await one.next_event(), await two.next_event()
        assert first.id == second.id
        assert first.json()["id"] == second.json()["id"] == alert.id


# Scope -------------------------------------------------------------------------------------


async def test_a_custodian_of_one_site_never_hears_of_another(live: Live) -> None:
    elsewhere = live.world.fire(OTHER, "f1")
    async with httpx.AsyncClient(base_url=live.url) as client, \
            screen(client, "custodian-token") as custodian, screen(client, "op-token") as center:
        assert (await custodian.next_event()).json() == {"alerts": []}
        assert [a["id"] for a in (await center.next_event()).json()["alerts"]] == [elsewhere.id]

        repeat(live.world, 3, OTHER, "f1")
        live.world.later(1)
        here = live.world.fire()
        repeat(live.world, 2, OTHER, "f1")
        live.world.later(1)
        live.world.service.acknowledge(here.id, "user:zhang")

        # Events reach a screen in order: had anything of the other site been sent, it would come first.
        seen = [(await custodian.next_event(timeout=1.0)).json() for _ in range(2)]
        assert [(a["id"], a["status"]) for a in seen] == [(here.id, "open"), (here.id, "acknowledged")]
        assert {a["site"]["id"] for a in seen} == {SITE}
        center_seen = [(await center.next_event(timeout=1.0)).json()["site"]["id"] for _ in range(7)]
        assert center_seen == [OTHER] * 3 + [SITE] + [OTHER] * 2 + [SITE]


async def test_snapshot_holds_only_the_sites_in_scope(live: Live) -> None:
    mine = live.world.fire()
    live.world.fire(OTHER, "f1")
    async with httpx.AsyncClient(base_url=live.url) as client, screen(client, "custodian-token") as sse:
        snapshot = (await sse.next_event()).json()
        assert [a["id"] for a in snapshot["alerts"]] == [mine.id]


async def test_without_a_token_the_answer_is_401(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client:
        response = await client.get("/events")
        assert response.status_code == 401
        response = await client.get("/events", headers={"Authorization": "Bearer nope"})
        assert response.status_code == 401
    assert live.feed.subscriber_count == 0


async def test_a_dependency_that_yields_no_principal_is_answered_401(world: World) -> None:
    from fastapi import FastAPI

    from relic_guard.dashboard.live import router

    async def nobody() -> None:
        return None

    app = FastAPI()
    feed = LiveFeed(world.service)
    app.include_router(router(feed, nobody))
    async with await client_for(app) as client:
        response = await client.get("/events")
    assert response.status_code == 401
    assert "login" in response.json()["error"]
    assert feed.subscriber_count == 0


# Heartbeat, disconnect, shutdown ---------------------------------------------------------------------


async def test_a_heartbeat_comment_keeps_an_idle_connection_alive(world: World) -> None:
    async with serve(world, heartbeat_s=0.2) as live, httpx.AsyncClient(base_url=live.url) as client, \
            screen(client, "op-token") as sse:
        await sse.next_event()
        started = time.monotonic()
        ping = await sse.next(timeout=1.0)
        assert ping.comments == ["ping"]
        assert ping.event is None and ping.id is None
        assert 0.15 < time.monotonic() - started < 1.0
        # Still live after pings.
        alert = world.fire()
        assert (await sse.next_event(timeout=1.0)).json()["id"] == alert.id


async def test_disconnecting_unsubscribes_and_the_service_listener_goes(live: Live) -> None:
    assert live.feed.subscriber_count == 0
    assert not live.feed.listening
    async with httpx.AsyncClient(base_url=live.url) as client:
        async with screen(client, "op-token") as one, screen(client, "custodian-token") as two:
            await one.next_event()
            await two.next_event()
            assert live.feed.subscriber_count == 2
            assert live.feed.listening
            assert live.world.service.listeners.count(live.feed._on_alert) == 1
        await until(lambda: live.feed.subscriber_count == 0)
        assert not live.feed.listening
        assert live.world.service.listeners == []

        # A change after everyone left goes nowhere, and a new screen starts afresh.
        alert = live.world.fire()
        async with screen(client, "op-token") as again:
            assert [a["id"] for a in (await again.next_event()).json()["alerts"]] == [alert.id]
            assert live.feed.subscriber_count == 1
    await until(lambda: live.feed.subscriber_count == 0)


async def test_screens_that_leave_mid_stream_are_unsubscribed_every_time(world: World) -> None:
    # Disconnect while the stream waits on its queue (no frame in flight) and while it is busy.
    async with serve(world, heartbeat_s=60) as live, httpx.AsyncClient(base_url=live.url) as client:
        for _ in range(3):
            async with screen(client, "op-token") as sse:
                await sse.next_event()
                repeat(world, 5)
            await until(lambda: live.feed.subscriber_count == 0)
        assert not live.feed.listening


async def test_close_ends_every_stream(live: Live) -> None:
    async with httpx.AsyncClient(base_url=live.url) as client, screen(client, "op-token") as sse:
        await sse.next_event()
        live.feed.close()
        with pytest.raises(EOFError):
            await sse.next(timeout=2.0)
    await until(lambda: live.feed.subscriber_count == 0)
    assert not live.feed.listening


async def test_changes_after_close_do_not_keep_a_stream_open(world: World) -> None:
    feed = LiveFeed(world.service, queue_size=2)
    stream = feed.stream(TOKENS["op-token"])
    await anext(stream)
    feed.close()
    repeat(world, 10)
    with pytest.raises(StopAsyncIteration):
        await anext(stream)
    assert feed.subscriber_count == 0 and not feed.listening


# Backpressure ----------------------------------------------------------------------------------


async def test_a_stalled_screen_is_resynced_and_holds_no_more_than_its_queue(world: World) -> None:
    feed = LiveFeed(world.service, queue_size=8)
    stalled = feed.stream(TOKENS["op-token"], last_event_id=None)
    reading = feed.stream(TOKENS["supervisor-token"], last_event_id=None)
    try:
        await anext(stalled)  # retry + snapshot: subscribed
        await anext(reading)
        slow, quick = sorted(feed.subscribers, key=lambda s: s.principal.name != "ops")
        received: list[bytes] = []
        highest = 0
        for _ in range(250):
            repeat(world, 4)  # 1000 changes in all; the stalled screen takes none of them
            highest = max(highest, slow.queue.qsize())
            while not quick.queue.empty():
                received.append(await anext(reading))
        assert highest <= 8
        assert slow.queue.qsize() == 1  # the resync marker alone
        assert slow.resyncs == 1
        assert len(received) == 1000 and quick.resyncs == 0  # a screen that reads loses nothing

        # The stalled screen wakes: told to resync, with a snapshot of now in the same breath.
        frame = (await anext(stalled)).decode()
        assert frame.startswith("event: resync\n")
        assert "event: snapshot\n" in frame
        assert '"count":1000,' in frame  # the alarm as it stands after the 999 repeats
        # … and from then on it gets every change again.
        repeat(world, 1)
        assert '"count":1001,' in (await anext(stalled)).decode()
    finally:
        await stalled.aclose()
        await reading.aclose()
    assert feed.subscriber_count == 0
    assert not feed.listening


async def test_a_stalled_screen_costs_a_reading_screen_nothing_over_http(world: World) -> None:
    async with serve(world, queue_size=4) as live, httpx.AsyncClient(base_url=live.url) as client, \
            screen(client, "op-token") as sse:
        await sse.next_event()
        stalled = live.feed.stream(TOKENS["supervisor-token"])
        try:
            await anext(stalled)
            for n in range(1, 101):
                repeat(world, 1)
                event = await sse.next_event(timeout=1.0)
                assert event.json()["count"] == n
            slow = next(s for s in live.feed.subscribers if s.principal.name == "sup")
            assert slow.resyncs == 1 and slow.queue.qsize() == 1
        finally:
            await stalled.aclose()


# The JSON stays one line for every reader -------------------------------------------------------------


async def test_unicode_line_separators_in_names_stay_inside_the_data_line() -> None:
    world = make_world(other_name="灵岩\u2028寺\x85")
    world.fire(OTHER, "f1")
    async with serve(world) as live, httpx.AsyncClient(base_url=live.url) as client, \
            screen(client, "op-token") as sse:
        snapshot = await sse.next_event()
        assert len(snapshot.data) == 1
        assert snapshot.json()["alerts"][0]["site"]["name"] == "灵岩\u2028寺\x85"


def test_the_app_builds_without_a_server(world: World) -> None:
    # The router's dependency and header parameters resolve (annotations are strings here).
    paths = live_app(LiveFeed(world.service)).openapi()["paths"]
    parameters = {p["name"] for p in paths["/events"]["get"]["parameters"]}
    assert parameters == {"authorization", "last-event-id"}


@pytest.mark.parametrize("size", [0, -1])
def test_a_queue_must_hold_something(world: World, size: int) -> None:
    with pytest.raises(ValueError, match="queue_size"):
        LiveFeed(world.service, queue_size=size)


async def test_reader_helper_rejects_a_stream_that_ends() -> None:
    # The helper's contract the tests above rely on: EOF is an error, not an empty event.
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="retry: 5\n\n"))
    async with httpx.AsyncClient(transport=transport) as client, client.stream("GET", "http://x/") as response:
        reader = SseReader(response)
        assert (await reader.next()).retry == 5
        with pytest.raises(EOFError):
            await reader.next()

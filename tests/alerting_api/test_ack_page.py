"""The page behind every `ack_url`: GET shows, POST acknowledges as the token's recipient."""

from __future__ import annotations

from datetime import timedelta

import httpx

from alerts import ack_token
from alerts.model import AlertStatus
from relic_guard.alerting.records import TimelineEntry

from .conftest import ACK_SECRET, DOWN_URL, OPS, OTHER, World, client_for, make_world


def ack_path(world: World, alert_id: str, recipient: str = "center-1", ttl_s: float = 3600) -> str:
    token = ack_token.issue(ACK_SECRET, alert_id, recipient, world.clock() + timedelta(seconds=ttl_s))
    return f"/ack/{token}"


async def test_the_service_links_point_at_the_page(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    links = world.service.ack_links
    assert links is not None
    url = links.url(alert.id, "center-1", world.clock())
    assert url.startswith("https://guard.example/ack/")
    page = await down_client.get(url.removeprefix("https://guard.example"))
    assert page.status_code == 200


async def test_get_shows_the_alert_and_never_acknowledges(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    path = ack_path(world, alert.id)
    for _ in range(3):  # an IM app's preview, then the person, then a reload
        page = await down_client.get(path)
        assert page.status_code == 200
    text = page.text
    assert page.headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in text
    assert "城子崖遗址" in text
    assert "火警（未确认）" in text
    assert "2026-11-27 10:00:00（北京时间）" in text
    assert "确认接警 / Acknowledge" in text
    assert '<form method="post">' in text
    assert "http://" not in text and "https://" not in text  # no external assets
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    current = world.service.get(alert.id)
    assert current is not None and current.status is AlertStatus.OPEN
    assert not [i for i in world.journal.items if isinstance(i, TimelineEntry) and i.kind == "acknowledged"]


async def test_post_acknowledges_as_the_recipient(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    world.later(42)
    path = ack_path(world, alert.id, recipient="custodian-zhang")
    done = await down_client.post(path)
    assert done.status_code == 200
    assert "已确认接警" in done.text
    current = world.service.get(alert.id)
    assert current is not None
    assert current.status is AlertStatus.ACKNOWLEDGED
    assert current.acknowledged_by == "recipient:custodian-zhang"
    entries = [i for i in world.journal.items if isinstance(i, TimelineEntry) and i.kind == "acknowledged"]
    assert [(e.alert_id, e.actor) for e in entries] == [(alert.id, "recipient:custodian-zhang")]
    # Again, from the same or another recipient's link: a page saying who and when, not an error.
    world.later(60)
    again = await down_client.post(ack_path(world, alert.id, recipient="center-1"))
    assert again.status_code == 200
    assert "已由 custodian-zhang 于 2026-11-27 10:00:42（北京时间） 确认接警" in again.text
    shown = await down_client.get(path)
    assert "已由 custodian-zhang" in shown.text
    assert "<button" not in shown.text
    assert len([i for i in world.journal.items if isinstance(i, TimelineEntry) and i.kind == "acknowledged"]) == 1


async def test_api_shows_the_recipient_as_acknowledger(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    await down_client.post(ack_path(world, alert.id, recipient="center-1"))
    conflict = await down_client.post(f"/api/alerts/{alert.id}/ack", headers=OPS)
    assert conflict.status_code == 409
    assert conflict.json()["error"].startswith("already acknowledged by recipient:center-1 at ")


async def test_expired_link(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    path = ack_path(world, alert.id, ttl_s=60)
    world.later(61)
    page = await down_client.get(path)
    assert page.status_code == 410
    assert "链接已过期" in page.text
    assert "监控中心" in page.text
    assert "2026-11-27 10:01:00（北京时间）" in page.text
    assert "<button" not in page.text
    post = await down_client.post(path)
    assert post.status_code == 410
    current = world.service.get(alert.id)
    assert current is not None and current.status is AlertStatus.OPEN


async def test_bad_links(world: World, down_client: httpx.AsyncClient) -> None:
    alert = world.fire()
    good = ack_path(world, alert.id)
    forged = ack_token.issue(b"someone-else's-key", alert.id, "x", world.clock() + timedelta(hours=1))
    for path in (good[:-3], f"/ack/{forged}", "/ack/not-a-token"):
        page = await down_client.post(path)
        assert page.status_code == 403, path
        assert "链接无效" in page.text
        assert "监控中心" in page.text
    current = world.service.get(alert.id)
    assert current is not None and current.status is AlertStatus.OPEN


async def test_closed_alert(world: World, down_client: httpx.AsyncClient, db: str) -> None:
    alert = world.fire()
    path = ack_path(world, alert.id)
    await down_client.post(f"/api/alerts/{alert.id}/resolve", headers=OPS, json={"false_alarm": True})
    # The database is down: the page cannot say more than that the alert is no longer open.
    unknown = await down_client.post(path)
    assert unknown.status_code == 200
    assert "不在待处理状态" in unknown.text
    world.write_journal(db)
    async with await client_for(world.app(db)) as client:
        page = await client.post(path)
    assert page.status_code == 200
    assert "误报" in page.text
    assert "无需确认" in page.text


async def test_text_is_escaped() -> None:
    world = make_world(other_name='<script>alert("x")</script>灵岩寺')
    alert = world.fire(OTHER, "f1")
    async with await client_for(world.app(DOWN_URL)) as client:
        page = await client.get(ack_path(world, alert.id))
    assert "<script>" not in page.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;灵岩寺" in page.text

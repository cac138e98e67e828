"""`/draws`: the stored draws with their publication and the fire inspections they made, for
everyone signed in, in Chinese and English, escaped, without inline script."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import unescape

import httpx
import psycopg

from relic_guard.dashboard.app import CSP
from relic_guard.dashboard.draws import parse_year
from relic_guard.inspections.draw import Period
from relic_guard.inspections.draw_io import load_draw_input
from relic_guard.store import draw_store, inspection_store
from tests.alerting_api.conftest import DOWN_URL
from tests.dashboard_draws.conftest import Center, logged_in
from tests.inspections.test_draw_store import EXAMPLE

SEED = '<b>公证</b> "抽签"'
DRAWN_AT = datetime(2026, 6, 20, 1, 30, tzinfo=UTC)  # 09:30 in Beijing


def store(url: str) -> draw_store.StoredOutcome:
    with psycopg.connect(url, autocommit=True) as conn:
        outcome = draw_store.draw_and_store(conn, load_draw_input(EXAMPLE), period=Period.parse("2026-Q3"), count=4,
                                            seed=SEED, per_target=2, by="user:督察员", now=DRAWN_AT, audit_key=None)
        inspection_store.complete(conn, f"draw/{outcome.id}/SZ-001", rating="good", summary="消防设施完好",
                                  sites={}, by="user:张建华", now=datetime(2026, 7, 9, 2, tzinfo=UTC))
    return outcome


def rows_of(page: str) -> list[str]:
    return re.findall(r'<tr class="draw-row" data-id="(\d+)">', page)


async def test_the_list_shows_each_draw_its_publication_and_inspections(center: Center) -> None:
    outcome = store(center.database_url)
    fingerprint = outcome.result.fingerprint
    # Draws are public: a custodian of one site sees the draw of the whole city.
    async with logged_in(center.app, "wang") as client:
        page = await client.get("/draws")
        assert page.status_code == 200
        assert page.headers["content-security-policy"] == CSP
        html = page.text
        assert rows_of(html) == [str(outcome.id)]
        assert "双随机抽查" in html and "2026-Q3" in html and "2026-07-01 – 2026-09-30" in html
        # The seed is shown as text, never as markup.
        assert "<b>公证</b>" not in html and "&lt;b&gt;公证&lt;/b&gt; &#34;抽签&#34;" in html
        assert f'title="{fingerprint}">{fingerprint[:12]}…</code>' in html
        assert "4 / 4 家，每家 2 人" in html and "2026-06-20 09:30:00" in html and "user:督察员" in html
        for suffix in (".html", ".csv", ".toml"):
            assert f'href="/api/draws/{outcome.id}{suffix}"' in html
        assert f'<a href="/inspections/draw/{outcome.id}/SZ-001">西关关帝庙</a> ' \
               '<span class="draw-status draw-status-done">已完成</span> <span class="draw-mandatory">必查</span>' \
               in html
        assert unescape(html).count(f"/inspections/draw/{outcome.id}/") == 4 and "已指派" in html
        assert "<script" not in html and "http://" not in html and "https://" not in html

        # The publication the page links to answers the same session.
        published = await client.get(f"/api/draws/{outcome.id}.html")
        assert published.status_code == 200 and fingerprint in published.text

        assert (await client.get("/draws?year=2026")).text.count('class="draw-row"') == 1
        none = await client.get("/draws?year=2025")
        assert rows_of(none.text) == [] and "2025 年没有抽取记录。" in none.text

    async with logged_in(center.app, "ops") as client:
        client.cookies.set("rg_lang", "en")
        english = (await client.get("/draws")).text
        assert "Random inspection draws" in english and "4 of 4, 2 inspectors each" in english
        assert "mandatory" in english and ">done</span>" in english
        assert '<a href="/draws" aria-current="page">Random draws</a>' in english


async def test_an_empty_list_a_stranger_and_a_database_away(center: Center) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=center.app), base_url="http://guard.test",
                                 headers={"accept": "text/html"}) as stranger:
        answer = await stranger.get("/draws")
        assert answer.status_code == 303 and answer.headers["location"] == "/login?next=/draws"
    async with logged_in(center.app, "sup") as client:
        empty = await client.get("/draws")
        assert empty.status_code == 200 and "尚无抽取记录。" in empty.text
        center.deps.database_url = DOWN_URL
        away = await client.get("/draws")
        assert away.status_code == 503 and "数据库暂时无法访问，暂不能显示抽取记录" in away.text
        assert rows_of(away.text) == []


def test_parse_year() -> None:
    assert [parse_year(text) for text in ("2026", " 2027 ", "", "26", "２０２６", "1999", "2201", "20x6")] == [
        2026, 2027, None, None, None, None, None, None]

"""Hazards in a browser: the center raises one, the site's custodian finds it in the list, files a
plan and closes it with a photo taken after the rectification, all with plain forms."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import Center, Pages, dump, shot
from tests.hazards_api.conftest import png

PHOTO = png(160, 120, (52, 199, 89))


def raise_hazard(center: Center) -> int:
    """As an operator would from the API, with the session's CSRF token in the header."""
    page = center.api.get("/hazards")
    page.raise_for_status()
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token, page.text[:2000]
    answer = center.api.post("/api/hazards", headers={"x-csrf-token": token.group(1)}, json={
        "source": "patrol", "source_ref": "round-browser", "site": "chengziya", "severity": "general",
        "title": "东配殿消防通道堆放木料", "description": "巡查发现东配殿北侧消防通道堆放修缮木料约 2 立方米",
        "owner": "王建国"})
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def test_custodian_closes_a_hazard_with_a_photo(open_page: Pages, center: Center) -> None:
    hazard_id = raise_hazard(center)
    page = open_page("wang")
    page.goto(center.url("/hazards"))
    row = page.locator(f"#hazard-list tr[data-id='{hazard_id}']")
    expect(row).to_be_visible()
    expect(row.locator("td[data-col='site']")).to_contain_text("城子崖遗址")
    expect(row).to_contain_text("待整改")
    expect(row.locator("td[data-col='deadline']")).to_contain_text("个工作日")
    assert "灵岩寺" not in page.inner_text("#hazard-list")

    with page.expect_navigation():
        row.locator("td[data-col='title'] a").click()
    assert page.url.endswith(f"/hazards/{hazard_id}"), page.url
    page.fill("#plan-form textarea[name=plan]", "今日下午清运木料，恢复消防通道")
    with page.expect_navigation():
        page.click("#plan-form button[type=submit]")
    expect(page.locator("#hazard-status")).to_have_text("整改中")

    page.set_input_files("#close-form input[name=photo]",
                         files=[{"name": "after.png", "mimeType": "image/png", "buffer": PHOTO}])
    page.fill("#close-form textarea[name=note]", "木料已全部清运，消防通道畅通")
    with page.expect_navigation():
        page.click("#close-form button[type=submit]")
    assert re.search(r"\?done=close", page.url), page.url
    expect(page.locator("#hazard-status")).to_have_text("已整改销号")
    picture = page.locator("#hazard-evidence img").first
    expect(picture).to_be_visible()
    loaded = picture.evaluate("img => img.complete && img.naturalWidth")
    assert loaded == 160, f"the evidence photo did not load: naturalWidth {loaded}"
    expect(page.locator("#hazard-timeline li[data-kind='closed'] .kind")).to_have_text("整改完成，销号")
    expect(page.locator("#hazard-timeline li[data-kind='closed'] .actor")).to_have_text("王建国")
    shot(page, "hazard-closed-by-custodian-with-photo-evidence")

    detail = center.api.get(f"/api/hazards/{hazard_id}").json()
    assert detail["status"] == "closed" and detail["closed_by"] == "user:wang", dump(detail)
    [evidence] = detail["evidence"]
    assert evidence["kind"] == "photo" and evidence["note"] == "木料已全部清运，消防通道畅通", dump(detail)
    assert center.api.get(evidence["photo_url"]).content == PHOTO

"""The monitoring center's queue in a browser: a fire alarm arrives live, is handled to the end on
its alert page, and the queue reads in English with the sites' Chinese names intact."""

from __future__ import annotations

import re
import time

from playwright.sync_api import Page, expect

from tests.browser.conftest import DEVICES, Center, Pages, dump, report, rgba, shot

# The requirement is one second from alarm to screen; the test allows for a loaded test machine.
LIVE_LIMIT_S = 5.0
ROW = "table#alert-queue tbody tr[data-id]"


def queue_row(site: str, device: str) -> str:
    """The selector of the queue row of the device's alarm (its zone is in the row's text)."""
    return f"{ROW}:has(td[data-col='device']:has-text('{DEVICES[(site, device)]}'))"


def wait_live(page: Page) -> None:
    # Until the event stream is open, an alarm would reach the page only through the snapshot.
    expect(page.locator("#live-status")).to_have_attribute("data-state", "live")


def test_fire_alarm_appears_live_and_is_acknowledged_and_resolved(open_page: Pages, center: Center) -> None:
    page = open_page("ops")
    assert page.url.endswith("/queue"), page.url
    wait_live(page)
    # A reload would reset this; it survives only if the row arrives over the open page's stream.
    page.evaluate("window.__sameDocument = true")
    row = page.locator(queue_row("chengziya", "smoke-queue"))
    assert row.count() == 0

    published = center.fire("chengziya", "smoke-queue")
    row.wait_for(state="visible", timeout=LIVE_LIMIT_S * 1000 + 2000)
    took_s = time.monotonic() - published
    report(f"live update: fire alarm published on MQTT → row in the open queue page in {took_s * 1000:.0f} ms "
           f"(requirement 1 s, test limit {LIVE_LIMIT_S:g} s)")
    assert took_s <= LIVE_LIMIT_S, f"the alarm took {took_s:.2f} s to reach the queue"
    assert page.evaluate("window.__sameDocument === true"), "the queue page reloaded instead of updating live"

    # Critical and not yet acknowledged: marked so that it is seen from across the room.
    expect(row).to_have_attribute("data-severity", "critical")
    expect(row).to_have_class(re.compile(r"\bsev-critical\b"))
    expect(row.locator("td[data-col='severity'] .sev")).to_have_text("紧急")
    background = rgba(row.evaluate("tr => getComputedStyle(tr).backgroundColor"))
    marker = rgba(row.locator("td").first.evaluate("td => getComputedStyle(td).borderLeftColor"))
    red = [color for color in (background, marker) if color[0] >= 200 and color[1] <= 120 and color[2] <= 120
           and color[3] > 0]
    assert red, f"the critical row is not marked red: background {background}, left border {marker}"
    expect(page.locator("#critical-banner")).to_be_visible()
    expect(row.locator("td[data-col='site']")).to_contain_text("城子崖遗址")
    shot(page, "queue-fire-alarm-arrived-live-critical-row-marked")

    alert_id = row.get_attribute("data-id")
    assert alert_id
    # The page asks for one click to allow the alarm sound (browsers play audio only after a
    # gesture); give it that click first, as the operator does, then open the alert.
    unlock = page.locator("#sound-unlock")
    if unlock.is_visible():
        unlock.click()
        expect(unlock).to_be_hidden()
    # The night shift may silence the alarm, and must be able to see that it is silenced.
    toggle = page.locator("#sound-toggle")
    expect(toggle).to_have_attribute("aria-pressed", "true")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "false")
    expect(toggle).to_have_text("报警声音：关")
    toggle.click()
    expect(toggle).to_have_text("报警声音：开")
    with page.expect_navigation():
        row.locator("td[data-col='title'] a").click()
    assert page.url.endswith(f"/alerts/{alert_id}"), page.url
    status = page.locator("#alert-status")
    expect(status).to_have_text("待响应")

    page.click("button#ack")
    page.wait_for_url(re.compile(r"\?done=ack$"))
    expect(status).to_have_attribute("data-status", "acknowledged")
    expect(status).to_have_text("已响应")

    page.select_option("select#classification", label="火灾")
    page.fill("textarea#resolve-note", "东配殿香炉引燃供桌布幔，值班员用灭火器扑灭，文物无损。")
    page.click("button#resolve")
    page.wait_for_url(re.compile(r"\?done=resolve$"))
    expect(status).to_have_attribute("data-status", "resolved")
    expect(status).to_have_text("已解除")
    expect(page.locator("#classification-shown")).to_have_text("火灾")

    # The timeline is read from the database, which the journal writes a moment after the change.
    timeline = page.locator("#timeline-list")
    deadline = time.monotonic() + 10
    while timeline.locator("li[data-kind='resolved']").count() == 0:
        assert time.monotonic() < deadline, f"the timeline never showed the resolution: {page.inner_text('main')}"
        time.sleep(0.3)
        page.reload()
    expect(timeline.locator("li[data-kind='acknowledged'] .kind")).to_have_text("已响应")
    expect(timeline.locator("li[data-kind='resolved'] .kind")).to_have_text("已解除")
    expect(timeline.locator("li[data-kind='resolved'] .actor")).to_have_text("值班员")
    shot(page, "alert-page-resolved-as-fire-timeline-acknowledged-and-resolved")

    detail = center.api.get(f"/api/alerts/{alert_id}").json()
    assert detail["status"] == "resolved" and detail["classification"] == "fire", dump(detail)
    actors = {entry["kind"]: entry["actor"] for entry in detail["timeline"]}
    assert actors.get("acknowledged") == "user:ops" and actors.get("resolved") == "user:ops", dump(detail)


def test_queue_in_english_keeps_chinese_site_names(open_page: Pages, center: Center) -> None:
    page = open_page("ops")
    wait_live(page)
    row = page.locator(queue_row("chengziya", "smoke-lang"))
    center.fire("chengziya", "smoke-lang")
    row.wait_for(state="visible")
    expect(page.locator("th[data-col='severity']")).to_have_text("级别")

    with page.expect_navigation():
        page.click("header a.lang")
    assert page.url.endswith("/queue"), page.url
    expect(page.locator("html")).to_have_attribute("lang", "en")
    wait_live(page)
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.locator("header nav a[href='/queue']")).to_have_text("Alert queue")
    expect(page.locator("main h1")).to_have_text("Open alerts")
    heads = page.locator("table#alert-queue thead th").all_inner_texts()
    assert heads[:4] == ["Severity", "Category", "Alert", "Site"], heads
    site = row.locator("td[data-col='site']")
    expect(site).to_contain_text("城子崖遗址")

    # Rendered with a real CJK font, not boxes: ask Chromium which font drew the site's name.
    cdp = page.context.new_cdp_session(page)
    cdp.send("DOM.enable")
    cdp.send("CSS.enable")
    root = cdp.send("DOM.getDocument")["root"]["nodeId"]
    alert_id = row.get_attribute("data-id")
    node = cdp.send("DOM.querySelector", {"nodeId": root,
                                          "selector": f"tr[data-id='{alert_id}'] td[data-col='site']"})["nodeId"]
    fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
    cdp.detach()
    assert any("CJK" in font["familyName"] and font["glyphCount"] >= 5 for font in fonts), fonts
    shot(page, "queue-in-english-chinese-site-names-rendered")

    # The rows' own words, checked last so the screenshot above is kept whatever they say.
    words = {col: row.locator(f"td[data-col='{col}']").inner_text().split("\n")[0].strip()
             for col in ("severity", "category", "status")}
    assert words == {"severity": "Critical", "category": "Fire", "status": "Open"}, \
        f"the English queue's row for the alarm says {words}"

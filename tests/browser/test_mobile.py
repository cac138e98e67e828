"""The custodian's phone page in a browser: only their own site's alerts, other sites' pages
answered as unknown, a layout for a phone's width, and acknowledging with a thumb."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.conftest import Center, Pages, dump, shot

# An iPhone 12–15 sized screen, held upright, with touch and a mobile viewport meta honoured.
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
# Apple's and Android's guidelines: a control a thumb must hit is at least 44 px (pt/dp) tall.
MIN_TOUCH_PX = 44
HIDDEN = (403, 404)


def test_custodian_sees_only_own_site_and_other_sites_are_not_found(open_page: Pages, center: Center) -> None:
    center.fire("chengziya", "smoke-scope")
    center.fire("lingyan-si", "smoke-scope")
    mine = center.open_alert("chengziya", "smoke-scope")["id"]
    other = center.open_alert("lingyan-si", "smoke-scope")["id"]

    page = open_page("wang")
    assert page.url.endswith("/m"), page.url
    expect(page.locator(f".m-alert[data-id='{mine}']")).to_be_visible()
    expect(page.locator(f".m-alert[data-id='{mine}'] .m-alert-site")).to_have_text("城子崖遗址")
    expect(page.locator(f".m-alert[data-id='{other}']")).to_have_count(0)
    html = page.content()
    assert other not in html and "灵岩寺" not in html, "the phone page of 城子崖遗址's custodian mentions 灵岩寺"
    expect(page.locator("#m-sites .m-site")).to_have_count(1)
    shot(page, "mobile-custodian-wang-sees-only-chengziya-alerts", full_page=False)

    for path in (f"/alerts/{other}", "/sites/lingyan-si", f"/api/alerts/{other}"):
        answer = page.goto(center.url(path))
        assert answer is not None
        assert answer.status in HIDDEN, f"{path} for wang: {answer.status} {page.inner_text('body')[:500]}"
        assert "灵岩寺" not in page.content(), f"{path} for wang shows 灵岩寺"
    # The same addresses for his own site answer, so the refusals above are about scope.
    for path in (f"/alerts/{mine}", f"/api/alerts/{mine}"):
        answer = page.goto(center.url(path))
        assert answer is not None and answer.status == 200, f"{path} for wang: {answer and answer.status}"

    # And 灵岩寺's custodian sees that alert, and not 城子崖遗址's: the mirror image.
    page = open_page("zhang")
    expect(page.locator(f".m-alert[data-id='{other}'] .m-alert-site")).to_have_text("灵岩寺")
    expect(page.locator(f".m-alert[data-id='{mine}']")).to_have_count(0)
    assert "城子崖遗址" not in page.content(), "the phone page of 灵岩寺's custodian mentions 城子崖遗址"


def test_phone_layout_fits_and_acknowledges_with_a_tap(open_page: Pages, center: Center) -> None:
    center.fire("chengziya", "smoke-phone")
    alert_id = center.open_alert("chengziya", "smoke-phone")["id"]

    page = open_page("wang", **PHONE)
    assert page.url.endswith("/m"), page.url
    card = page.locator(f".m-alert[data-id='{alert_id}']")
    expect(card).to_be_visible()
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], f"the phone page scrolls sideways: {widths}"
    button = card.locator("button.m-ack")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    assert box is not None and box["height"] >= MIN_TOUCH_PX, f"the acknowledge button is too small to tap: {box}"
    assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["viewport"]["width"], box  # type: ignore[index]
    shot(page, "mobile-phone-390px-alert-before-acknowledge")

    with page.expect_navigation():
        button.tap()
    assert re.search(rf"/m\?acked={re.escape(alert_id)}", page.url), page.url
    expect(page.locator("#m-flash")).to_contain_text("已确认接警")
    expect(card).to_have_attribute("data-status", "acknowledged")
    expect(card.locator(".m-alert-status")).to_contain_text("已响应")
    expect(card.locator("button.m-ack")).to_have_count(0)
    widths = page.evaluate("({scroll: document.documentElement.scrollWidth, inner: window.innerWidth})")
    assert widths["scroll"] <= widths["inner"], f"the phone page scrolls sideways after acknowledging: {widths}"
    shot(page, "mobile-phone-390px-alert-acknowledged", full_page=False)

    detail = center.api.get(f"/api/alerts/{alert_id}").json()
    assert detail["status"] == "acknowledged" and detail.get("acknowledged_by") == "user:wang", dump(detail)

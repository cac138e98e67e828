"""Who did it, in words: one rule for every page."""

from __future__ import annotations

from relic_guard.alerting.records import SYSTEM_ACTOR
from relic_guard.dashboard.people import actor_text


def test_names_where_known_ids_otherwise() -> None:
    names = {"zhang.wei": "张伟"}
    assert actor_text("user:zhang.wei", "zh-CN", names=names) == "张伟"
    assert actor_text("user:li.na", "zh-CN", names=names) == "li.na"  # not logged in here: the login
    assert actor_text("user:zhang.wei", "zh-CN") == "zhang.wei"
    assert actor_text(SYSTEM_ACTOR, "zh-CN") == "系统"
    assert actor_text(SYSTEM_ACTOR, "en") == "System"
    assert actor_text("recipient:wjg", "zh-CN") == "wjg"  # no routing directory
    assert actor_text("token:abc", "zh-CN") == "token:abc"
    assert actor_text(None, "zh-CN") == "" and actor_text("", "en") == ""

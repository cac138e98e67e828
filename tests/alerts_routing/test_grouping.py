"""Grouping: a site's notifications within the wait go out together; critical ones never wait."""

from __future__ import annotations

import msgspec
from hypothesis import given
from hypothesis import strategies as st

from alerts.grouping import Grouper, per_recipient
from alerts.model import Audience, Category, Notify, NotifyEvent, Severity
from alerts.routing import Recipient

from .support import alert, at, recipient


def notify(
    device: str,
    *,
    site: str = "lingyan-si",
    severity: Severity = Severity.MAJOR,
    category: Category = Category.SECURITY,
    event: NotifyEvent = NotifyEvent.OPENED,
) -> Notify:
    return Notify(alert(category, severity, site=site, device=device, rule=f"{category}.x"), event)


def devices(group_items: tuple[Notify, ...]) -> list[str]:
    return [item.alert.device for item in group_items]


def test_alerts_within_the_wait_form_one_group() -> None:
    grouper = Grouper(wait_s=5)
    assert grouper.add(notify("door"), at(0)) == []
    assert grouper.add(notify("vibration"), at(2)) == []
    assert grouper.next_due() == at(5)
    assert grouper.due(at(4.999)) == []
    [group] = grouper.due(at(5))
    assert devices(group.items) == ["door", "vibration"] and group.started_at == at(0)
    assert grouper.due(at(5)) == [] and len(grouper) == 0 and grouper.next_due() is None


def test_sites_are_grouped_apart_and_come_out_in_start_order() -> None:
    grouper = Grouper(wait_s=5)
    grouper.add(notify("a", site="simen-ta"), at(1))
    grouper.add(notify("b", site="lingyan-si"), at(0))
    groups = grouper.due(at(10))
    assert [g.site for g in groups] == ["lingyan-si", "simen-ta"]


def test_critical_fire_alarm_is_never_held_back() -> None:
    """The rule in the module docstring: a CRITICAL fire alarm goes out at once, alone; the
    site's pending group is not delayed nor absorbed; later alerts join a follow-up group."""
    grouper = Grouper(wait_s=5)
    grouper.add(notify("door"), at(0))
    [urgent] = grouper.add(notify("smoke-1", category=Category.FIRE, severity=Severity.CRITICAL), at(1))
    assert urgent.immediate and devices(urgent.items) == ["smoke-1"] and urgent.started_at == at(1)
    grouper.add(notify("camera"), at(2))
    [group] = grouper.due(at(5))
    assert devices(group.items) == ["door", "camera"]
    grouper.add(notify("vibration"), at(6))  # a follow-up group
    assert grouper.next_due() == at(11)


def test_a_repeat_of_the_same_alert_and_event_replaces_in_place() -> None:
    grouper = Grouper(wait_s=5)
    first = notify("door")
    grouper.add(first, at(0))
    grouper.add(notify("camera"), at(1))
    later = Notify(msgspec.structs.replace(first.alert, count=2), first.event)
    grouper.add(later, at(2))
    grouper.add(Notify(first.alert, NotifyEvent.ESCALATED), at(3))
    [group] = grouper.due(at(5))
    assert [(i.alert.device, i.event, i.alert.count) for i in group.items] == [
        ("door", NotifyEvent.OPENED, 2),
        ("camera", NotifyEvent.OPENED, 1),
        ("door", NotifyEvent.ESCALATED, 1),
    ]


def test_per_recipient_gives_each_recipient_one_batch_with_their_items() -> None:
    grouper = Grouper(wait_s=5)
    grouper.add(notify("door"), at(0))
    grouper.add(notify("camera"), at(1))
    [group] = grouper.due(at(5))
    mc, police = recipient("mc", Audience.MONITORING_CENTER), recipient("110", Audience.POLICE)

    def recipients_of(item: Notify) -> list[Recipient]:
        return [mc, police] if item.alert.device == "door" else [mc]

    batches = per_recipient(group, recipients_of)
    assert [(b.recipient.id, devices(b.items)) for b in batches] == [("mc", ["door", "camera"]), ("110", ["door"])]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["lingyan-si", "simen-ta"]),
            st.sampled_from(["d1", "d2", "d3"]),
            st.sampled_from([Severity.CRITICAL, Severity.MAJOR, Severity.MINOR]),
            st.floats(min_value=0, max_value=3, allow_nan=False),
        ),
        max_size=25,
    )
)
def test_every_notification_comes_out_exactly_once_and_critical_at_once(
    arrivals: list[tuple[str, str, Severity, float]],
) -> None:
    grouper = Grouper(wait_s=5)
    now = at(0)
    sent: list[Notify] = []
    keys: set[tuple[str, NotifyEvent]] = set()
    for site, device, severity, gap in arrivals:
        now = now + (at(gap) - at(0))
        item = notify(device, site=site, severity=severity, category=Category.FIRE)
        keys.add((item.alert.id, item.event))
        for group in grouper.add(item, now) + grouper.due(now):
            if group.immediate:
                assert group.started_at == now and group.items == (item,)
                assert item.alert.severity is Severity.CRITICAL
            else:
                assert now - group.started_at >= at(5) - at(0)
            sent.extend(group.items)
    for group in grouper.due(now + (at(5) - at(0))):
        sent.extend(group.items)
    # Nothing is lost and nothing is left behind.
    assert len(grouper) == 0
    assert {(i.alert.id, i.event) for i in sent} == keys

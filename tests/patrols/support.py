"""Sites and routes shared by the patrol tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time

from alerts.rules.common import SHANGHAI
from relic_guard.patrols.model import Checkpoint, FrequencyRule, Route


@dataclass(frozen=True)
class FakeSite:
    id: str = "xiaotangshan"
    custodians: tuple[str, ...] = ("赵玉梅",)
    open_hours: tuple[time, time] | None = (time(8, 30), time(17, 0))


SITE = FakeSite()

CHECKPOINTS = (
    Checkpoint(id="shanmen", name="山门", code="XTS-01", lat=36.4231, lon=116.7647, radius_m=50),
    Checkpoint(id="dadian", name="大殿", code="XTS-02", lat=36.4237, lon=116.7650, radius_m=40),
    Checkpoint(id="kufang", name="库房", code="XTS-03"),
)


def route(*rules: FrequencyRule, route_id: str = "xts-fire") -> Route:
    return Route(
        id=route_id, site=SITE.id, name="防火巡查", checkpoints=CHECKPOINTS, custodians=("赵玉梅",), frequency=rules
    )


def local(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SHANGHAI)

"""Notification channels: one module per way of reaching a person, all behind `base.Channel`.

`base` holds the interface, the delivery values and the retry loop; each channel module
(`webhook` today; email, apprise and web push to come) implements `Channel.deliver` for one
attempt, and every one passes the shared suite in `tests/alerts_channels/test_channel_contract.py`.
"""

from alerts.channels.base import (
    EVENTS,
    Channel,
    Delivery,
    DeliveryEvent,
    DeliveryOutcome,
    DeliveryResult,
    InvalidDelivery,
    RetryPolicy,
    deliver_with_retries,
)

__all__ = [
    "EVENTS",
    "Channel",
    "Delivery",
    "DeliveryEvent",
    "DeliveryOutcome",
    "DeliveryResult",
    "InvalidDelivery",
    "RetryPolicy",
    "deliver_with_retries",
]

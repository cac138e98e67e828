"""Prometheus metrics of the whole daemon, defined once here.

The ingest workers are separate processes, so the daemon runs prometheus-client
in multiprocess mode: each process writes its samples to files in
`PROMETHEUS_MULTIPROC_DIR` (set by the daemon before any worker starts) and
`/metrics` merges them. Without that variable (tests of one module, benches)
the metrics live in the process as usual.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MESSAGES = Counter(
    "relic_guard_messages_total",
    "MQTT messages received, by source (fire, video, drone, patrol, security, env, dji, frigate, unknown)",
    ["source", "lane"],
)
REJECTIONS = Counter(
    "relic_guard_rejections_total",
    "Messages quarantined, by reason (CONTRACT §4)",
    ["reason"],
)
DUPLICATES = Counter(
    "relic_guard_duplicates_total",
    "Rows dropped because they were already stored (redelivery), by table",
    ["table"],
)
ROWS_WRITTEN = Counter(
    "relic_guard_rows_written_total",
    "Rows committed to the database, by table",
    ["table"],
)
BATCH_MESSAGES = Histogram(
    "relic_guard_batch_messages",
    "Messages per committed batch",
    buckets=(1, 10, 50, 100, 500, 1000, 2000, 5000, 10000, 20000),
)
BATCH_SECONDS = Histogram(
    "relic_guard_batch_commit_seconds",
    "Time to make one batch durable (database commit or spool append)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
SPOOL_BYTES = Gauge(
    "relic_guard_spool_bytes",
    "Bytes waiting in the on-disk spool for the database to return",
    ["worker"],
    multiprocess_mode="livesum",
)
SPOOL_BATCHES = Gauge(
    "relic_guard_spool_batches",
    "Batches waiting in the on-disk spool",
    ["worker"],
    multiprocess_mode="livesum",
)
SPOOL_FULL = Counter(
    "relic_guard_spool_full_total",
    "Times a batch could not be spooled because the spool quota was reached (ingestion paused)",
)
DATABASE_UP = Gauge(
    "relic_guard_database_up",
    "1 while the process can reach the database",
    ["worker"],
    multiprocess_mode="livemin",
)
BROKER_UP = Gauge(
    "relic_guard_broker_connected",
    "1 while the lane is connected to the MQTT broker",
    ["lane"],
    multiprocess_mode="livemin",
)
ALERTS_OPEN = Gauge(
    "relic_guard_alerts_open",
    "Alerts open or acknowledged (someone owns them until they are closed), by severity",
    ["severity"],
    multiprocess_mode="liveall",
)
ALERT_ACTIONS = Counter(
    "relic_guard_alert_transitions_total",
    "Alert state changes, by kind (opened, confirmed, escalated, acknowledged, resolved, …)",
    ["kind"],
)
DELIVERIES = Counter(
    "relic_guard_deliveries_total",
    "Notification deliveries (after retries), by channel and outcome (delivered, failed)",
    ["channel", "outcome"],
)
UNDELIVERED = Counter(
    "relic_guard_undelivered_total",
    "Notifications that reached their recipient over no channel, fallback included, by audience",
    ["audience"],
)
DISPATCH_SECONDS = Histogram(
    "relic_guard_alert_dispatch_seconds",
    "From receiving the record that caused a notification to its delivery, by event",
    ["event"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
VIDEO_FRAMES = Counter(
    "relic_guard_video_frames_total",
    "Video frames by camera (site/device) and what became of them: received, analysed, skipped (above the "
    "camera's max_fps, or older than the last), dropped (its queue was full: oldest first), unusable (does not "
    "decode), rejected (bad frame)",
    ["camera", "outcome"],
)
VIDEO_ANALYSIS_SECONDS = Histogram(
    "relic_guard_video_analysis_seconds",
    "Time to decode and analyse one video frame",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
VIDEO_EVENTS = Counter(
    "relic_guard_video_events_total",
    "Video events by contract type and outcome: published (acknowledged by the broker), refused (by the "
    "broker), dropped (the outbox was full while the broker was away: oldest first)",
    ["type", "outcome"],
)
VIDEO_EVIDENCE = Counter(
    "relic_guard_video_evidence_total",
    "Evidence snapshots by origin (analyzer, frigate) and outcome (stored, failed, dropped)",
    ["origin", "outcome"],
)

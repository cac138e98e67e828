"""Configuration models: frozen, keyword-only, units in the names.

One TOML file (CONTRACT §6) fills these; every key can be overridden by an
environment variable (`RELIC_GUARD_<SECTION>_<KEY>`, plus the four short
names the contract fixes). Loading and validation live in `relic_guard.config_load`;
this module only says what a valid configuration is, with its defaults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class MqttConfig:
    # mqtt://user:pass@host:1883, or mqtts:// for TLS.
    url: str = "mqtt://127.0.0.1:1883"
    client_id_prefix: str = "relic-guard"
    # First level of native topics (relic/{site}/{source}/{device}/{channel}).
    topic_prefix: str = "relic"
    # How long the broker keeps our session (and queues QoS 1 messages) while we are away.
    session_expiry_s: int = 7 * 86400
    keepalive_s: int = 30
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    # MQTT 5 Receive Maximum: how many unacknowledged QoS 1 messages the broker may
    # send us. It must cover a whole batch, or every commit waits for one window.
    receive_maximum: int = 20000
    # Group name of the MQTT 5 shared subscription the ingest workers split.
    shared_group: str = "relic-guard"
    # Off for a broker without shared subscriptions (e.g. amqtt): then run one ingest worker,
    # or every worker receives every message (stored once, but the work is done N times).
    shared_subscription: bool = True
    ca_file: Path | None = None
    # Subscribe to DJI Cloud API and Frigate topics as well as the native contract.
    dji_enabled: bool = True
    frigate_enabled: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class DatabaseConfig:
    # postgresql://…; None only in `demo`, which starts an embedded PostgreSQL.
    url: str | None = None
    pool_max_size: int = 4
    connect_timeout_s: float = 5.0
    statement_timeout_s: float = 30.0


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpConfig:
    listen: str = "127.0.0.1:8080"


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestConfig:
    # Telemetry worker processes sharing one MQTT 5 shared subscription; 0 = one per core.
    workers: int = 0
    # A batch is committed when it holds this many messages or is this old, whichever first.
    batch_max_messages: int = 5000
    batch_max_delay_ms: int = 100


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreConfig:
    # Readings and events older than this are dropped (and messages older are quarantined).
    retention_days: int = 400
    # Native partitions are created this many days ahead by the maintenance job.
    partition_ahead_days: int = 7
    # TimescaleDB only: chunks are compressed once older than this.
    compress_after_days: int = 7
    maintenance_interval_s: int = 3600


@dataclass(frozen=True, slots=True, kw_only=True)
class SpoolConfig:
    # Where batches wait, fsync'd, while the database is unreachable.
    dir: Path = Path("var/spool")
    quota_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditConfig:
    # The secret that keys the audit trail's hash chain: without it, rows cannot be rewritten
    # and re-chained unnoticed. Created (mode 0600) at first use when missing; back it up.
    key_file: Path = Path("var/audit.key")


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertsConfig:
    # Who is told of what, over which channels (recipients, routes, escalation, maintenance).
    # None: alerts are still evaluated, recorded and shown in the API, but nothing is sent.
    routing_file: Path | None = None
    # Telemetry thresholds ([[threshold]] tables); None: no threshold rules.
    thresholds_file: Path | None = None
    # Base URL phones reach the daemon at; `ack_url` links in notifications start with it.
    public_url: str = "http://127.0.0.1:8080"
    # HMAC key of the ack tokens in `ack_url`; created (mode 0600) when missing. Replacing it
    # voids the links already sent.
    ack_key_file: Path = Path("var/ack.key")
    ack_ttl_s: int = 86400
    # How often heartbeat deadlines, threshold durations and escalation timers are checked.
    tick_interval_ms: int = 200
    fire_confirm_window_s: float = 120.0
    site_unreachable_min_devices: int = 2
    # Per attempt; then retries with exponential backoff and full jitter (RetryPolicy).
    delivery_timeout_s: float = 5.0
    delivery_max_attempts: int = 5
    delivery_base_delay_s: float = 0.5
    delivery_max_delay_s: float = 30.0
    # smtp://user:pass@host:25 or smtp+starttls://user:pass@host:587; None: no e-mail.
    smtp_url: str | None = field(default=None, repr=False)  # may hold the SMTP password
    email_from: str = "relic-guard@localhost"
    # The server's Web Push (VAPID) private key, PEM; created (mode 0600) when missing.
    vapid_key_file: Path = Path("var/vapid.pem")
    vapid_subject: str = "mailto:ops@localhost"
    # Bearer tokens of the HTTP API.
    api_tokens_file: Path | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PatrolsConfig:
    # Patrol routes with checkpoints and frequency rules (see config/patrols.example.toml);
    # None: no patrol rounds are planned.
    routes_file: Path | None = None
    # How often the schedule plans rounds ahead, evaluates those whose window passed and raises
    # alerts for missed, late or partial ones (only the daemon holding the schedule lock does).
    job_interval_s: float = 60.0
    # Rounds are planned this far ahead (the mobile page shows them).
    plan_ahead_h: int = 24
    # A round's check-ins still count this long after its window ends (it is then "late").
    grace_s: float = 1800.0


@dataclass(frozen=True, slots=True, kw_only=True)
class InspectionsConfig:
    # The 双随机 draw's pool: inspectors, places, inspections done (see
    # config/inspections.example.toml); None: draws need `--input`.
    pool_file: Path | None = None
    # MM-DD in the plan's year by which each site's annual evaluation is due.
    site_evaluation_due: str = "09-30"
    # MM-DD by which the city's annual supervision of each district is due.
    district_supervision_due: str = "11-30"
    # How often the schedule makes sure this year's plan exists and reminds of overdue inspections.
    job_interval_s: float = 3600.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DronesConfig:
    # Extra allowed areas and no-fly zones per site (see config/drone-zones.example.toml);
    # None: a site's allowed area is its boundary_wkt grown by geofence_margin_m.
    zones_file: Path | None = None
    # A flight whose camera saw at least this share of its site counts as a patrol round of the
    # site's routes marked `drone_counts = true` (patrols routes file).
    patrol_coverage_share: float = 0.8
    # The allowed area reaches this far beyond a site's boundary (the zones file may set it per site).
    geofence_margin_m: float = 50.0
    # Horizontal field of view of the camera whose coverage is counted (DJI Mavic 3E / Matrice 4E wide: 72°).
    camera_fov_deg: float = 72.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportsConfig:
    # Where the annual supervision reports are written (PDF, HTML, XLSX and CSV per district, and
    # the city summary), by the schedule in January and when asked for on the dashboard.
    out_dir: Path = Path("var/reports")
    # MM-DD: last year's reports are made at the report job's first run on or after this day.
    annual_on: str = "01-02"
    # How often the report job looks for reports asked for on the dashboard (and for last year's).
    job_interval_s: float = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VideoConfig:
    # The cameras the video process analyses: zones, arming, stream URLs (see
    # config/cameras.example.toml); None: no camera is analysed.
    cameras_file: Path | None = None
    # Evidence snapshots (JPEG, named by their SHA-256), served by the daemon at
    # {[alerts] public_url}/evidence/<sha256>.jpg; shared with a video process on another machine.
    evidence_dir: Path = Path("var/evidence")
    # Snapshots older than this are removed (storing one again keeps it): as long as the events
    # that cite them are kept, by default.
    evidence_retention_days: int = 400
    # A camera that sends no frame for this long raises video_loss (cleared by its next frame).
    video_loss_s: float = 30.0
    # Frames waiting for analysis per camera; when full, the oldest is dropped.
    queue_frames: int = 8
    # Analysis threads (OpenCV releases the GIL); 0 = one per CPU core.
    threads: int = 0
    # Frigate's HTTP address, to fetch the snapshots of its events into the evidence folder;
    # None: Frigate events carry no snapshot.
    frigate_url: str | None = None
    # HOST:PORT where `relic-guard video` run on its own serves /metrics; None: not served (as a
    # child of `relic-guard run`, its metrics are in the daemon's /metrics).
    metrics_listen: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    store: StoreConfig = field(default_factory=StoreConfig)
    spool: SpoolConfig = field(default_factory=SpoolConfig)
    audit: AuditConfig = field(default_factory=AuditConfig)
    alerts: AlertsConfig = field(default_factory=AlertsConfig)
    patrols: PatrolsConfig = field(default_factory=PatrolsConfig)
    inspections: InspectionsConfig = field(default_factory=InspectionsConfig)
    drones: DronesConfig = field(default_factory=DronesConfig)
    reports: ReportsConfig = field(default_factory=ReportsConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    # Folder holding sites.csv / devices.csv (or .xlsx).
    registry_dir: Path = Path("config")
    # The file this configuration came from (None: built-in defaults).
    source_file: Path | None = None

-- Drone flights (无人机巡查): one row per flight the daemon's drone monitor closed
-- (relic_guard.drones.monitor, written by relic_guard.store.flight_store). The annual report counts
-- flights per site and year and the ground they covered; the patrol job credits a round of a route
-- with `drone_counts = true` to a flight that `counts_as_patrol` and ended inside its window.
CREATE TABLE drone_flights (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- The aircraft's device id in the registry (devices.csv), at `site_id`.
    aircraft         text COLLATE "C" NOT NULL,
    site_id          text COLLATE "C" NOT NULL,
    started_at       timestamptz NOT NULL,
    -- Landing, or the last contact in the air when the landing was not seen.
    ended_at         timestamptz NOT NULL,
    duration_s       double precision NOT NULL CHECK (duration_s >= 0),
    distance_m       double precision NOT NULL CHECK (distance_m >= 0),
    -- Above the takeoff point; NULL when the OSD carried no usable height.
    max_height_m     double precision,
    battery_used_pct double precision,
    -- landed; landed_unseen (the link was lost and the aircraft next reported itself on the
    -- ground); link_timeout (no contact for the flight timeout); interrupted (the daemon stopped
    -- while it was in the air: the rest of the flight is another row, see takeoff_seen).
    end_reason       text NOT NULL CHECK (end_reason IN ('landed', 'landed_unseen', 'link_timeout', 'interrupted')),
    link_losses      integer NOT NULL DEFAULT 0,
    -- False when the daemon first heard the aircraft already in the air (it was started, or
    -- restarted, during the flight): `started_at` is then that first sample, not the takeoff.
    takeoff_seen     boolean NOT NULL DEFAULT true,
    -- Share of the site's boundary the camera saw; NULL when the site has no boundary_wkt.
    coverage_share   double precision CHECK (coverage_share IS NULL OR coverage_share BETWEEN 0 AND 1),
    covered_m2       double precision,
    -- GeoJSON (WGS-84): the parts of the site not seen (MultiPolygon), and the track flown,
    -- simplified (MultiLineString, one line per segment between link losses and gaps).
    uncovered_geojson jsonb,
    track_geojson    jsonb NOT NULL,
    counts_as_patrol boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ended_at >= started_at),
    -- A retried write (its commit's answer lost) finds the row already there.
    UNIQUE (site_id, aircraft, started_at)
);
CREATE INDEX drone_flights_site_ended_idx ON drone_flights (site_id, ended_at);
CREATE INDEX drone_flights_ended_idx ON drone_flights (ended_at);

-- A round completed by a drone flight rather than by check-ins: when that flight ended
-- (relic_guard.patrols.rounds.evaluate, `by_drone_at`).
ALTER TABLE patrol_rounds ADD COLUMN drone_flight_at timestamptz;

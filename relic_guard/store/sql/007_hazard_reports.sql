-- Hazards that people on site report from the mobile page (a cracked beam, a blocked fire lane,
-- an unlocked storeroom), and their photos (relic_guard/store/hazards.py). The audit trail (003)
-- records each report too (`hazard.reported`); these tables are what the page reads back.

-- A photo is stored once however often it is uploaded: the key is the SHA-256 of its bytes, so a
-- report sent twice from a flaky phone connection costs one copy.
CREATE TABLE hazard_photos (
    sha256       text COLLATE "C" PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp')),
    bytes        bytea NOT NULL CHECK (octet_length(bytes) BETWEEN 1 AND 5242880),
    created_at   timestamptz NOT NULL DEFAULT now()
);
-- JPEG, PNG and WebP are compressed already: PostgreSQL's own compression would only cost CPU.
ALTER TABLE hazard_photos ALTER COLUMN bytes SET STORAGE EXTERNAL;

-- No foreign key to `sites`: a report names the site as the registry knew it when it was made,
-- and must be kept even if the site is later renamed or removed from sites.csv.
CREATE TABLE hazard_reports (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    site_id      text COLLATE "C" NOT NULL,
    -- who reported it, as the audit trail names callers (`user:<login>`)
    reported_by  text NOT NULL,
    description  text NOT NULL CHECK (length(description) BETWEEN 1 AND 2000),
    photo_sha256 text COLLATE "C" REFERENCES hazard_photos (sha256),
    reported_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX hazard_reports_reporter_idx ON hazard_reports (reported_by, reported_at DESC);
CREATE INDEX hazard_reports_site_idx ON hazard_reports (site_id, reported_at DESC);
-- Serving a photo checks that a report at a site the viewer may see uses it.
CREATE INDEX hazard_reports_photo_idx ON hazard_reports (photo_sha256) WHERE photo_sha256 IS NOT NULL;

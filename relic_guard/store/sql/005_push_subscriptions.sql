-- Web Push subscriptions of custodians' phones, by the id the routing file names as a webpush
-- target (`sub-wangjianguo`); written through by the API (relic_guard/store/push.py) and read
-- back at start, so a phone that allowed notifications once keeps getting them after a restart.
-- `subscription` is the browser's PushSubscription (endpoint and keys) as the API checked it; it
-- holds the phone's encryption keys, so it never goes to logs or the audit trail.
CREATE TABLE push_subscriptions (
    id            text COLLATE "C" PRIMARY KEY,
    -- the routing recipient(s) the id belonged to when registered (ids, comma separated)
    recipient     text NOT NULL,
    subscription  jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    -- the API caller who registered it last (`user:<name>`)
    registered_by text NOT NULL
);

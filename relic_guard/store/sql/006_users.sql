-- People who log in to the dashboard, and their sessions. A user sees the sites of `sites` and of
-- `districts` (both empty: every site); custodians and agency liaisons always have a scope.
CREATE TABLE users (
    login         text COLLATE "C" PRIMARY KEY,
    name          text NOT NULL,
    role          text NOT NULL,
    sites         text[] NOT NULL DEFAULT '{}',
    districts     text[] NOT NULL DEFAULT '{}',
    password_hash text NOT NULL,
    disabled      boolean NOT NULL DEFAULT false,
    lang          text NOT NULL DEFAULT 'zh-CN',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Only a digest of the session cookie is kept: a copy of this table logs nobody in.
CREATE TABLE web_sessions (
    digest       text PRIMARY KEY,
    login        text COLLATE "C" NOT NULL REFERENCES users (login) ON DELETE CASCADE,
    csrf         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL
);
CREATE INDEX web_sessions_login_idx ON web_sessions (login);

-- The audit trail (全过程记录): every alert transition, delivery, acknowledgement and
-- configuration change, append-only and hash-chained (relic_guard/audit.py computes the chain).
CREATE TABLE audit_log (
    seq        bigint PRIMARY KEY,
    at         timestamptz NOT NULL,
    actor      text NOT NULL,
    kind       text NOT NULL,
    subject    text NOT NULL,
    -- the canonical JSON text that was hashed, and a jsonb copy of it for queries
    detail_text text NOT NULL,
    detail     jsonb NOT NULL,
    prev_hash  bytea NOT NULL,
    hash       bytea NOT NULL
);
CREATE INDEX audit_log_subject_idx ON audit_log (subject, seq);
CREATE INDEX audit_log_at_idx ON audit_log (at);

-- The chain's head, written in the same transaction as each append: deleting rows from the
-- end of the log leaves the head pointing past them, which `audit verify` reports.
CREATE TABLE audit_head (
    one   boolean PRIMARY KEY DEFAULT true CHECK (one),
    seq   bigint NOT NULL,
    hash  bytea NOT NULL
);

-- Append-only: updates and deletes are refused outright. (A superuser can still disable the
-- trigger; the keyed hash chain is what makes such an edit visible.)
CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP
        USING HINT = 'the audit trail keeps every record; add a correcting entry instead';
END
$$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();

-- The console's own objects, in their own schema: it never alters an Omega
-- table (migrate creates those only on an empty database, in 002).

CREATE SCHEMA IF NOT EXISTS omega_console;

CREATE TABLE omega_console.settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO omega_console.settings (key, value) VALUES
    ('raw_retention_days', '30'),
    ('rollup_1m_retention_days', '30'),
    ('rollup_1h_retention_days', '400');

CREATE FUNCTION omega_console.setting_int(p_key TEXT) RETURNS INTEGER
    LANGUAGE sql STABLE
    AS $$ SELECT value::integer FROM omega_console.settings WHERE key = p_key $$;

-- time_bucket() as TimescaleDB defines it for fixed intervals (origin
-- 2000-01-03, a Monday), on plain date_bin(), so the console's queries read
-- the same with or without the extension.
CREATE FUNCTION omega_console.time_bucket(p_width INTERVAL, p_ts TIMESTAMPTZ) RETURNS TIMESTAMPTZ
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT date_bin(p_width, p_ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$;

-- Every action taken through the console, successful or not.
CREATE TABLE omega_console.audit_log (
    audit_id BIGSERIAL PRIMARY KEY,
    at TIMESTAMPTZ NOT NULL DEFAULT now(),
    operator TEXT NOT NULL,          -- who the console says acted (config / --operator / OS user)
    os_user TEXT NOT NULL,
    os_host TEXT NOT NULL,
    db_user TEXT NOT NULL DEFAULT current_user,
    action TEXT NOT NULL,            -- drain, resume, cancel, acknowledge, resolve
    target_kind TEXT NOT NULL,       -- node, session, alert
    target_id TEXT NOT NULL,
    target_name TEXT,
    before_state JSONB,
    after_state JSONB,
    result TEXT NOT NULL,            -- ok, already, refused, failed
    detail TEXT
);
CREATE INDEX audit_log_at_idx ON omega_console.audit_log (at DESC);
CREATE INDEX audit_log_target_idx ON omega_console.audit_log (target_kind, target_id);

-- The Omega tables have no column for "acknowledged": acknowledgements of
-- alerts (events and conditions the console derives) live here, by alert id.
CREATE TABLE omega_console.alert_acks (
    alert_id TEXT PRIMARY KEY,
    acknowledged_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    acknowledged_by TEXT NOT NULL,
    note TEXT
);

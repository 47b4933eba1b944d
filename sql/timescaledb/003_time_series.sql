-- omega: touches-omega-tables
-- TimescaleDB: make the three time-series tables of seed 000 hypertables,
-- compress old chunks and drop raw rows after the retention period
-- (omega_console.settings 'raw_retention_days', default 30).
-- Runs only on a database whose Omega tables this migrate created.

-- A hypertable's unique constraints must include its time column; seed 000
-- gives system_events PRIMARY KEY (event_id), which TimescaleDB rejects.
-- This is the one change to a seed table: the key becomes (event_id, timestamp).
ALTER TABLE system_events DROP CONSTRAINT system_events_pkey;
ALTER TABLE system_events ADD PRIMARY KEY (event_id, timestamp);

SELECT create_hypertable('node_metrics', 'time', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('session_metrics', 'time', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('system_events', 'timestamp', chunk_time_interval => INTERVAL '7 days');

CREATE INDEX IF NOT EXISTS idx_system_events_unresolved
    ON system_events (timestamp DESC) WHERE resolved_at IS NULL;

ALTER TABLE node_metrics SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'node_id, metric_type',
    timescaledb.compress_orderby = 'time DESC'
);
ALTER TABLE session_metrics SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'session_id, metric_type',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('node_metrics', INTERVAL '2 days');
SELECT add_compression_policy('session_metrics', INTERVAL '2 days');

SELECT add_retention_policy('node_metrics', make_interval(days => omega_console.setting_int('raw_retention_days')));
SELECT add_retention_policy('session_metrics', make_interval(days => omega_console.setting_int('raw_retention_days')));

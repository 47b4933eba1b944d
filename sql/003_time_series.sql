-- omega: touches-omega-tables
-- Plain PostgreSQL: the time-series tables stay ordinary tables. Add the
-- indexes a hypertable would have given us, so that reads by time window
-- (the console's incremental poll) do not scan whole tables.
-- Runs only on a database whose Omega tables this migrate created.

CREATE INDEX IF NOT EXISTS idx_node_metrics_time ON node_metrics (time DESC);
CREATE INDEX IF NOT EXISTS idx_session_metrics_time ON session_metrics (time DESC);
CREATE INDEX IF NOT EXISTS idx_system_events_unresolved
    ON system_events (timestamp DESC) WHERE resolved_at IS NULL;

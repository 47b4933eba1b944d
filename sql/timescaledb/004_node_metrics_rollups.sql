-- TimescaleDB: the 1-minute rollup is a continuous aggregate on node_metrics,
-- the 1-hour one a hierarchical continuous aggregate on top of it. Both
-- answer in real time (materialized_only = false: the newest buckets are
-- computed from raw rows), and policies keep them materialized. Same names
-- and columns as the plain-PostgreSQL rollup tables.
-- Runs only when node_metrics is a hypertable.

CREATE MATERIALIZED VIEW omega_console.node_metrics_1m
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 minute', time) AS bucket,
       node_id,
       metric_type,
       avg(value) AS avg_value,
       min(value) AS min_value,
       max(value) AS max_value,
       count(*) AS samples
  FROM node_metrics
 GROUP BY 1, 2, 3
WITH NO DATA;

CREATE MATERIALIZED VIEW omega_console.node_metrics_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', bucket) AS bucket,
       node_id,
       metric_type,
       sum(avg_value * samples) / nullif(sum(samples), 0) AS avg_value,
       min(min_value) AS min_value,
       max(max_value) AS max_value,
       sum(samples)::bigint AS samples
  FROM omega_console.node_metrics_1m
 GROUP BY 1, 2, 3
WITH NO DATA;

SELECT add_continuous_aggregate_policy('omega_console.node_metrics_1m',
    start_offset => INTERVAL '2 hours', end_offset => INTERVAL '1 minute',
    schedule_interval => INTERVAL '1 minute');
SELECT add_continuous_aggregate_policy('omega_console.node_metrics_1h',
    start_offset => INTERVAL '3 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '15 minutes');

SELECT add_retention_policy('omega_console.node_metrics_1m',
    make_interval(days => omega_console.setting_int('rollup_1m_retention_days')));
SELECT add_retention_policy('omega_console.node_metrics_1h',
    make_interval(days => omega_console.setting_int('rollup_1h_retention_days')));

-- Same signature as the plain variant, so writers can call it either way:
-- here the policies do the work and real-time aggregation covers the newest
-- rows, so this does nothing (refresh_continuous_aggregate() is a procedure
-- that cannot run inside a function).
CREATE FUNCTION omega_console.refresh_node_metrics_rollups(p_overlap INTERVAL DEFAULT INTERVAL '2 minutes')
    RETURNS INTEGER
    LANGUAGE sql
    AS $$ SELECT 0 $$;

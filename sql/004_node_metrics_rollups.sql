-- Plain PostgreSQL: 1-minute and 1-hour rollups of node_metrics as ordinary
-- tables, kept current by omega_console.refresh_node_metrics_rollups(),
-- which recomputes only the buckets touched since its last run (with an
-- overlap for late rows). Writers (simulator, agent) or a cron job call it;
-- the console reads the rollups and falls back to raw rows for the newest
-- minutes. The TimescaleDB variant defines the same names as continuous
-- aggregates, so readers never need to know which one they have.

CREATE TABLE omega_console.node_metrics_1m (
    bucket TIMESTAMPTZ NOT NULL,
    node_id UUID NOT NULL,
    metric_type VARCHAR(50) NOT NULL,
    avg_value DOUBLE PRECISION,
    min_value DOUBLE PRECISION,
    max_value DOUBLE PRECISION,
    samples BIGINT NOT NULL,
    PRIMARY KEY (node_id, metric_type, bucket)
);
CREATE INDEX node_metrics_1m_bucket_idx ON omega_console.node_metrics_1m (bucket DESC);

CREATE TABLE omega_console.node_metrics_1h (LIKE omega_console.node_metrics_1m INCLUDING ALL);

CREATE TABLE omega_console.rollup_watermarks (
    rollup TEXT PRIMARY KEY,
    refreshed_to TIMESTAMPTZ NOT NULL
);

CREATE FUNCTION omega_console.refresh_node_metrics_rollups(p_overlap INTERVAL DEFAULT INTERVAL '2 minutes')
    RETURNS INTEGER
    LANGUAGE plpgsql
    AS $$
DECLARE
    v_from TIMESTAMPTZ;        -- first 1-minute bucket to recompute from raw rows
    v_from_hour TIMESTAMPTZ;   -- first 1-hour bucket to recompute from the 1-minute rollup
    v_now TIMESTAMPTZ := clock_timestamp();
    v_rows INTEGER;
BEGIN
    -- One refresher at a time; a second caller simply skips this round.
    IF NOT pg_try_advisory_xact_lock(hashtext('omega_console.refresh_node_metrics_rollups')) THEN
        RETURN 0;
    END IF;

    SELECT refreshed_to - p_overlap INTO v_from
      FROM omega_console.rollup_watermarks WHERE rollup = 'node_metrics';
    IF v_from IS NULL THEN
        v_from := '-infinity';
        v_from_hour := '-infinity';
    ELSE
        -- Raw rows are read only from the minute of the watermark; the hour
        -- containing it is rebuilt from the (small) 1-minute table.
        v_from := omega_console.time_bucket(INTERVAL '1 minute', v_from);
        v_from_hour := omega_console.time_bucket(INTERVAL '1 hour', v_from);
    END IF;

    INSERT INTO omega_console.node_metrics_1m AS r
    SELECT omega_console.time_bucket(INTERVAL '1 minute', time), node_id, metric_type,
           avg(value), min(value), max(value), count(*)
      FROM node_metrics
     WHERE time >= v_from
     GROUP BY 1, 2, 3
    ON CONFLICT (node_id, metric_type, bucket) DO UPDATE
       SET avg_value = EXCLUDED.avg_value, min_value = EXCLUDED.min_value,
           max_value = EXCLUDED.max_value, samples = EXCLUDED.samples;
    GET DIAGNOSTICS v_rows = ROW_COUNT;

    INSERT INTO omega_console.node_metrics_1h AS r
    SELECT omega_console.time_bucket(INTERVAL '1 hour', bucket), node_id, metric_type,
           sum(avg_value * samples) / nullif(sum(samples), 0), min(min_value), max(max_value), sum(samples)
      FROM omega_console.node_metrics_1m
     WHERE bucket >= v_from_hour
     GROUP BY 1, 2, 3
    ON CONFLICT (node_id, metric_type, bucket) DO UPDATE
       SET avg_value = EXCLUDED.avg_value, min_value = EXCLUDED.min_value,
           max_value = EXCLUDED.max_value, samples = EXCLUDED.samples;

    DELETE FROM omega_console.node_metrics_1m
     WHERE bucket < v_now - make_interval(days => omega_console.setting_int('rollup_1m_retention_days'));
    DELETE FROM omega_console.node_metrics_1h
     WHERE bucket < v_now - make_interval(days => omega_console.setting_int('rollup_1h_retention_days'));

    INSERT INTO omega_console.rollup_watermarks VALUES ('node_metrics', v_now)
    ON CONFLICT (rollup) DO UPDATE SET refreshed_to = EXCLUDED.refreshed_to;
    RETURN v_rows;
END
$$;

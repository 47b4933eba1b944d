-- Least-privilege roles for omega-tui. Not a migration: roles are cluster-wide,
-- so a DBA applies this once per database (psql -d omega -f sql/roles.sql)
-- after `omega-tui db migrate`, then grants a role to each login:
--     GRANT omega_operator TO alice;   GRANT omega_readonly TO dashboard;
-- Both roles are NOLOGIN. Re-running this file is safe.

DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'omega_readonly') THEN
        CREATE ROLE omega_readonly NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'omega_operator') THEN
        CREATE ROLE omega_operator NOLOGIN;
    END IF;
END
$$;

-- omega_readonly: everything the console reads; it can change nothing.
GRANT USAGE ON SCHEMA public, omega_console TO omega_readonly;
GRANT SELECT ON nodes, node_resources, users, sessions, session_allocations,
                node_metrics, session_metrics, system_events TO omega_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA omega_console TO omega_readonly;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA omega_console TO omega_readonly;

-- omega_operator: reads like omega_readonly, plus exactly the columns and rows
-- the five actions write (drain/resume, cancel, acknowledge, resolve).
GRANT omega_readonly TO omega_operator;
GRANT UPDATE (status, updated_at) ON nodes TO omega_operator;
GRANT UPDATE (status, end_time, updated_at) ON sessions TO omega_operator;
GRANT UPDATE (status, deallocation_time) ON session_allocations TO omega_operator;
GRANT UPDATE (allocated_capacity, updated_at) ON node_resources TO omega_operator;
GRANT INSERT ON system_events TO omega_operator;
GRANT UPDATE (resolved_at, resolved_by) ON system_events TO omega_operator;
GRANT INSERT ON omega_console.audit_log, omega_console.alert_acks TO omega_operator;
GRANT USAGE ON SEQUENCE omega_console.audit_log_audit_id_seq TO omega_operator;

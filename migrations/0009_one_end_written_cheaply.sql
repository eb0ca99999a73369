-- A sync job in a held slot costs the database little more than its row's
-- INSERT: its check and its end, written alone, are planned once.
--
-- jobserver_record_held (0008) takes its batch as arrays. Measured on one
-- server with one client, where a batch is one job: a call took about 460 us
-- of the database's CPU where the INSERT of the same row takes about 60.
-- Most of it was planning: PL/pgSQL plans the statement anew for each call
-- ("custom" plans), because with the arrays' sizes known a custom plan looks
-- cheaper than the generic one; the rest is UNNEST of 22 arrays. So the
-- batch keeps one generic plan (about 200 us a call), and a batch of one,
-- the usual one when few jobs run at once, has a function of plain
-- parameters (about 110 us, the lease and hold checks included).
--
-- jobserver_check_held ran its six lookups as six statements: about 0.25 ms
-- a call with 16 clients, the largest single cost of a sync job in the
-- database. The store now sends them as one statement (Store::check_held),
-- prepared once per connection. The function stays, unused by this release,
-- for servers of the previous one still running on this database during an
-- upgrade; a later migration drops it.

ALTER FUNCTION jobserver_record_held(
    UUID, TEXT, TEXT, UUID[], TEXT[], INT[], TEXT[], TEXT[], TEXT[], BOOLEAN[], TEXT[], TIMESTAMPTZ[],
    BIGINT[], BIGINT[], TEXT[], TEXT[], INT[], UUID[], TEXT[], TIMESTAMPTZ[], TEXT[], TEXT[], TEXT[], REAL[],
    TEXT[], UUID[], INT[], TIMESTAMPTZ[], TEXT[], TEXT[])
    SET plan_cache_mode = force_generic_plan;

-- jobserver_record_held for one job: true when written as it ended, false
-- when its hold was gone (written KILLED with p_gone), NULL when p_server
-- has no lease (nothing was written).
CREATE FUNCTION jobserver_record_held_one(
    p_server UUID, p_server_name TEXT, p_gone TEXT,
    p_id UUID, p_app TEXT, p_version INT, p_blob TEXT, p_class TEXT, p_context TEXT,
    p_adhoc BOOLEAN, p_config TEXT, p_submitted TIMESTAMPTZ, p_timeout BIGINT, p_memory BIGINT,
    p_queue TEXT, p_pool TEXT, p_slot INT, p_hold UUID,
    p_status TEXT, p_ended TIMESTAMPTZ, p_result TEXT, p_error_class TEXT, p_error_message TEXT,
    p_progress REAL, p_progress_message TEXT,
    p_log_seqs INT[], p_log_times TIMESTAMPTZ[], p_log_levels TEXT[], p_log_messages TEXT[])
RETURNS BOOLEAN LANGUAGE plpgsql AS $$
DECLARE
    v_held BOOLEAN;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(4, hashtext(p_server::TEXT));
    IF NOT EXISTS (SELECT 1 FROM servers WHERE id = p_server) THEN
        RETURN NULL;
    END IF;
    v_held := EXISTS (SELECT 1 FROM slots WHERE pool = p_pool AND slot = p_slot AND job_id = p_hold);
    INSERT INTO jobs (id, app_name, app_version, blob_hash, class_path, context, adhoc, config, status,
                      submitted_at, started_at, ended_at, result, error_class, error_message, progress,
                      progress_message, timeout_ms, memory_limit, queue, server_id, server_name,
                      submitted_by, ended_by, kill_reason)
    VALUES (p_id, p_app, p_version, p_blob, p_class, p_context, p_adhoc, p_config::json,
            CASE WHEN v_held THEN p_status ELSE 'KILLED' END,
            p_submitted, p_submitted, p_ended,
            CASE WHEN v_held THEN p_result::json END,
            CASE WHEN v_held THEN p_error_class ELSE 'Killed' END,
            CASE WHEN v_held THEN p_error_message ELSE p_gone END,
            p_progress, p_progress_message, p_timeout, p_memory, p_queue, p_server, p_server_name,
            p_server, p_server, CASE WHEN NOT v_held THEN p_gone END);
    IF cardinality(p_log_messages) > 0 THEN
        INSERT INTO job_logs (job_id, seq, logged_at, level, message)
        SELECT p_id, l.* FROM UNNEST(p_log_seqs, p_log_times, p_log_levels, p_log_messages) AS l;
    END IF;
    IF p_adhoc THEN
        DELETE FROM named_objects WHERE context = 'adhoc:' || p_id::TEXT;
    END IF;
    RETURN v_held;
END $$;

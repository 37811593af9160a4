-- Resolve, step 1: identifiers observed together in one record.
-- Inputs: rs_events, each message once (clean/events as it is, or raw/events
-- through first_landed, macros.sql); the Go side adds
-- identify traits and CRM source fields with resolve_observe_trait.sql and
-- resolve_observe_field.sql. Output: rs_obs, one row per identifier per
-- record, normalized (normalize_identifier, the speed layer's function) and
-- without junk values (blocked_identifier).
CREATE OR REPLACE TEMP TABLE rs_obs_raw (
    workspace VARCHAR, id_type VARCHAR, raw_value VARCHAR, source VARCHAR, record VARCHAR, ts TIMESTAMP, rule VARCHAR
);

INSERT INTO rs_obs_raw
SELECT workspace, 'user_id', user_id, 'events', message_id, "timestamp", CASE WHEN type IN ('identify', 'alias') THEN type ELSE 'event' END
FROM rs_events WHERE user_id IS NOT NULL
UNION ALL
SELECT workspace, 'anonymous_id', anonymous_id, 'events', message_id, "timestamp", CASE WHEN type IN ('identify', 'alias') THEN type ELSE 'event' END
FROM rs_events WHERE anonymous_id IS NOT NULL
UNION ALL
-- alias: the previous id may have been a user id or an anonymous id (as in the speed layer)
SELECT workspace, t.id_type, previous_id, 'events', message_id, "timestamp", 'alias'
FROM rs_events, (VALUES ('user_id'), ('anonymous_id')) AS t(id_type)
WHERE type = 'alias' AND previous_id IS NOT NULL;

-- Resolve, step 1: identifiers observed together in one record.
-- Inputs: rs_events, each message once (clean/events as it is, or raw/events
-- through first_landed, macros.sql); the Go side adds
-- identify traits and CRM source fields with resolve_observe_trait.sql and
-- resolve_observe_field.sql. Outputs, with raw (not yet normalized) values:
--   rs_obs_raw   one row per identifier per record that may link: a record
--                with two identifiers or more (every identify and alias, an
--                event with both a user id and an anonymous id, CRM rows)
--   rs_seen_raw  the identifiers of the other events (one each: a page or
--                track with only a user id or only an anonymous id), reduced
--                to when each value was first seen. They link nothing and
--                are only nodes of the map, so they are not carried with
--                their record, source and rule (most events are such).
CREATE OR REPLACE TEMP TABLE rs_obs_raw (
    workspace VARCHAR, id_type VARCHAR, raw_value VARCHAR, source VARCHAR, record VARCHAR, ts TIMESTAMP, rule VARCHAR
);

INSERT INTO rs_obs_raw
WITH e AS (
    SELECT * FROM rs_events
    WHERE coalesce(type IN ('identify', 'alias'), false) OR (user_id IS NOT NULL AND anonymous_id IS NOT NULL)
)
SELECT workspace, 'user_id', user_id, 'events', message_id, "timestamp", CASE WHEN type IN ('identify', 'alias') THEN type ELSE 'event' END
FROM e WHERE user_id IS NOT NULL
UNION ALL
SELECT workspace, 'anonymous_id', anonymous_id, 'events', message_id, "timestamp", CASE WHEN type IN ('identify', 'alias') THEN type ELSE 'event' END
FROM e WHERE anonymous_id IS NOT NULL
UNION ALL
-- alias: the previous id may have been a user id or an anonymous id (as in the speed layer)
SELECT workspace, t.id_type, previous_id, 'events', message_id, "timestamp", 'alias'
FROM e, (VALUES ('user_id'), ('anonymous_id')) AS t(id_type)
WHERE type = 'alias' AND previous_id IS NOT NULL;

-- The complement of the filter above: neither identify nor alias, and at
-- most one of the two ids.
CREATE OR REPLACE TEMP TABLE rs_seen_raw AS
SELECT workspace, id_type, raw_value, min(ts) AS ts
FROM (
    SELECT workspace, CASE WHEN user_id IS NOT NULL THEN 'user_id' ELSE 'anonymous_id' END AS id_type,
        coalesce(user_id, anonymous_id) AS raw_value, CAST("timestamp" AS TIMESTAMP) AS ts
    FROM rs_events
    WHERE NOT coalesce(type IN ('identify', 'alias'), false) AND (user_id IS NULL OR anonymous_id IS NULL)
        AND coalesce(user_id, anonymous_id) IS NOT NULL
)
GROUP BY ALL;

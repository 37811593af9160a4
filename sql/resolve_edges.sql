-- Resolve, step 2: normalize, apply hygiene, and turn co-occurrence into edges.
-- Input: rs_obs_raw, rs_seen_raw (resolve_observe.sql), rs_caps(id_type,
-- cap). Parameters: $alarm (distinct user ids from which a value raises an
-- alarm).
-- usable_identifier (normalize_identifier, NULL when blocked_identifier
-- rejects the result) is a Go function called per row (a cgo round trip
-- and a value conversion each, slower still while the process's Go heap is
-- busy): it runs once per distinct raw value of a workspace (an anonymous
-- id recurs in every event of its browser; ~5× fewer calls; a phone number
-- without a country code is read in the workspace's region), and the
-- observations join the verdicts.
-- (Rejected values stay as NULL and the joins below filter them: a filter
-- on id_value here would be pushed down into the projection and call the
-- function again.)
CREATE OR REPLACE TEMP TABLE rs_values AS
SELECT workspace, id_type, raw_value, usable_identifier(workspace, id_type, whole(raw_value)) AS id_value
FROM (SELECT workspace, id_type, raw_value FROM rs_obs_raw UNION SELECT workspace, id_type, raw_value FROM rs_seen_raw);

-- No DISTINCT: an identifier observed twice in one record changes nothing
-- below (the caps count distinct user ids, the edges and nodes group).
CREATE OR REPLACE TEMP TABLE rs_obs AS
SELECT o.workspace, o.id_type, v.id_value, o.source, o.record, o.ts, o.rule
FROM rs_obs_raw o JOIN rs_values v USING (workspace, id_type, raw_value)
WHERE v.id_value IS NOT NULL;

-- Every identifier once, with when it was first seen. Its rowid (dense from
-- 0 in a table built in one statement and never deleted from) is the node
-- number of the Go union-find: no global sort to number them.
CREATE OR REPLACE TEMP TABLE rs_nodes AS
SELECT workspace, id_type, id_value, min(ts) AS first_seen
FROM (
    SELECT workspace, id_type, id_value, ts FROM rs_obs
    UNION ALL
    SELECT s.workspace, s.id_type, v.id_value, s.ts FROM rs_seen_raw s JOIN rs_values v USING (workspace, id_type, raw_value)
    WHERE v.id_value IS NOT NULL
)
GROUP BY ALL;

DROP TABLE rs_values;
DROP TABLE rs_seen_raw;

-- Per-type caps: a value seen with more distinct user ids than its type's
-- cap is shared (a family email, a shop's phone), not an identity: it stays
-- in the map as its own profile but links nothing.
CREATE OR REPLACE TEMP TABLE rs_shared AS
WITH users AS (
    SELECT o.workspace, o.id_type, o.id_value, count(DISTINCT u.id_value) AS user_ids
    FROM rs_obs o JOIN rs_obs u ON u.workspace = o.workspace AND u.source = o.source AND u.record = o.record AND u.id_type = 'user_id'
    WHERE o.id_type <> 'user_id'
    GROUP BY ALL
)
SELECT users.*, c.cap, users.user_ids > c.cap AS capped, users.user_ids >= $alarm AS alarm
FROM users LEFT JOIN rs_caps c ON c.id_type = users.id_type
WHERE users.user_ids > coalesce(c.cap, 1e18) OR users.user_ids >= $alarm;

-- Star edges: every linking identifier of a record to the record's first one
-- (by id_type, id_value: the least of the structs), found by aggregation and
-- joined back (a window partitioned by record sorts every partition, ~20%
-- more CPU).
CREATE OR REPLACE TEMP TABLE rs_edges AS
WITH linking AS (
    SELECT o.* FROM rs_obs o
    ANTI JOIN (SELECT * FROM rs_shared WHERE capped) s USING (workspace, id_type, id_value)
), heads AS (
    SELECT workspace, source, record, min({'t': id_type, 'v': id_value}) AS a
    FROM linking
    GROUP BY workspace, source, record
)
SELECT l.workspace, h.a.t AS a_type, h.a.v AS a_value, l.id_type AS b_type, l.id_value AS b_value,
    CASE WHEN l.source = 'events' THEN l.rule ELSE 'shared_record' END AS rule,
    1.0::DOUBLE AS score, l.source, l.record, min(l.ts) AS ts
FROM linking l JOIN heads h USING (workspace, source, record)
WHERE NOT (h.a.t = l.id_type AND h.a.v = l.id_value)
GROUP BY ALL;

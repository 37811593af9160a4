-- Cleanse raw/events → clean/events and quarantine/events_values.
-- Input: cl_raw (the committed raw/events files), cl_traits(trait, id_type,
-- path): identify traits that carry identifiers (speed.identifier_traits).
-- Output: the view cl_clean (read once, by the export) and the table
-- cl_quarantine.
--
-- The events are never materialized whole: the wide rows (properties,
-- traits, context JSON) stream from the Parquet files through hash joins
-- with small tables (the duplicated messages, the identifier verdicts)
-- straight into the clean/events export. At 10M events the version that
-- built the events, one row per identifier, a group-by back to one row per
-- event and then sorted all of it by message id took 128 s of cleanse's
-- 146 s.
--
-- The view's trait joins, email and phone (template fields) are rendered by
-- the cleanse job from the traits of cl_traits (identifier types and JSON
-- paths as SQL literals, never from input): one verdict join per identify
-- trait of type email or phone; the clean email and phone are the first
-- valid value by trait name.

-- Each message once, the first landed copy (lowest kafka_partition,
-- kafka_offset), as first_landed in macros.sql keeps it. Retries are rare:
-- only the messages landed more than once are found (their hashes first, an
-- aggregate over 64-bit integers rather than strings), and only their rows
-- go through the window.
CREATE OR REPLACE TEMP TABLE cl_dup AS
SELECT workspace, message_id FROM cl_raw
WHERE hash(workspace, message_id) IN (
    SELECT hash(workspace, message_id) AS h FROM cl_raw GROUP BY h HAVING count(*) > 1)
GROUP BY ALL HAVING count(*) > 1;

CREATE OR REPLACE TEMP TABLE cl_firsts AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY workspace, message_id ORDER BY kafka_partition, kafka_offset) AS rn
    FROM cl_raw SEMI JOIN cl_dup USING (workspace, message_id)
) WHERE rn = 1;

CREATE OR REPLACE TEMP VIEW cl_events AS
SELECT * FROM cl_raw ANTI JOIN cl_dup USING (workspace, message_id)
UNION ALL
SELECT * FROM cl_firsts;

-- Every distinct identifier value of each workspace, raw and normalized
-- with the speed layer's functions. The Go functions (usable_identifier:
-- normalized, NULL when invalid or blocklisted) are called per row, a cgo
-- round trip and a value conversion each: they judge each distinct raw
-- value once (an anonymous id recurs in every event of its browser; at 10M
-- events, 52 s when called per row), and only the few rejected values are
-- asked again (normalize_identifier) which of the two reasons it was. A
-- verdict is the workspace's: a phone number without a country code is
-- read in the workspace's region ("020 7946 0018" is a London number in a
-- UK shop, none in a US one). The values of every landed copy are judged
-- (those only a losing retry carries are judged for nothing), so these
-- scans skip the deduplicating join.
CREATE OR REPLACE TEMP TABLE cl_verdicts AS
SELECT workspace, id_type, raw, value,
    CASE WHEN value IS NOT NULL THEN NULL
         WHEN normalize_identifier(workspace, id_type, whole(raw)) IS NULL THEN 'invalid ' || id_type
         ELSE 'blocklisted ' || id_type
    END AS reason
FROM (
    SELECT workspace, id_type, raw, usable_identifier(workspace, id_type, whole(raw)) AS value
    FROM (
        SELECT DISTINCT workspace, id_type, raw FROM (
            SELECT workspace, 'user_id' AS id_type, user_id AS raw FROM cl_raw WHERE user_id IS NOT NULL
            UNION ALL
            SELECT workspace, 'anonymous_id', anonymous_id FROM cl_raw WHERE anonymous_id IS NOT NULL
            UNION ALL
            SELECT workspace, 'user_id', previous_id FROM cl_raw WHERE previous_id IS NOT NULL
            UNION ALL
            SELECT e.workspace, t.id_type, trait_identifier(e.traits, t.trait, t.path)
            FROM cl_raw e, cl_traits t
            WHERE e.type = 'identify' AND e.traits IS NOT NULL AND trait_identifier(e.traits, t.trait, t.path) IS NOT NULL
        )
    )
);

-- Rejected values, nothing dropped silently: the identifier values of the
-- events that have a reason. Only the few rejected verdicts are joined (the
-- build side of the join); every event is probed once per identifier field.
CREATE OR REPLACE TEMP TABLE cl_quarantine AS
WITH bad AS (SELECT workspace, id_type, raw, reason FROM cl_verdicts WHERE reason IS NOT NULL)
SELECT i.workspace, i.message_id, i.field, i.raw AS value, b.reason, $now::TIMESTAMP AS quarantined_at
FROM (
    SELECT workspace, message_id, 'user_id' AS field, 'user_id' AS id_type, user_id AS raw FROM cl_events WHERE user_id IS NOT NULL
    UNION ALL
    SELECT workspace, message_id, 'anonymous_id', 'anonymous_id', anonymous_id FROM cl_events WHERE anonymous_id IS NOT NULL
    UNION ALL
    SELECT workspace, message_id, 'previous_id', 'user_id', previous_id FROM cl_events WHERE previous_id IS NOT NULL
    UNION ALL
    SELECT e.workspace, e.message_id, 'traits.' || t.trait, t.id_type, trait_identifier(e.traits, t.trait, t.path)
    FROM cl_events e, cl_traits t
    WHERE e.type = 'identify' AND e.traits IS NOT NULL
) i JOIN bad b USING (workspace, id_type, raw);

-- Clean events: identifiers normalized, rejected values removed (a LEFT
-- JOIN with the accepted verdicts only), the carried email and phone as
-- columns.
CREATE OR REPLACE TEMP VIEW cl_clean AS
SELECT e.* REPLACE (u.value AS user_id, a.value AS anonymous_id, p.value AS previous_id),
    {{.Email}} AS email, {{.Phone}} AS phone
FROM cl_events e
LEFT JOIN (SELECT workspace, raw, value FROM cl_verdicts WHERE id_type = 'user_id' AND reason IS NULL) u ON u.workspace = e.workspace AND u.raw = e.user_id
LEFT JOIN (SELECT workspace, raw, value FROM cl_verdicts WHERE id_type = 'anonymous_id' AND reason IS NULL) a ON a.workspace = e.workspace AND a.raw = e.anonymous_id
LEFT JOIN (SELECT workspace, raw, value FROM cl_verdicts WHERE id_type = 'user_id' AND reason IS NULL) p ON p.workspace = e.workspace AND p.raw = e.previous_id
{{.TraitJoins}};

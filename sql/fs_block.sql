-- Fellegi–Sunter, step 2: candidate pairs of one blocking rule, appended to
-- fs_blocked_raw(l, r, bit). {{.Key}}, {{.NotNull}} and {{.From}} are
-- rendered by identity/match from the rule's validated attribute names, never
-- from input; a rule on "name" reads one row per name of a record (first or
-- last), so it also pairs swapped and half-missing names.
-- Blocks larger than $max_block records are skipped (a value shared by that
-- many records says little and would make the join quadratic).
-- Parameters: $bit, $max_block, $link.
INSERT INTO fs_blocked_raw
WITH k AS (
    SELECT DISTINCT id, src, hash({{.Key}}) AS k
    FROM {{.From}}
    WHERE {{.NotNull}}
), b AS (
    SELECT id, src, k FROM k
    QUALIFY count(*) OVER (PARTITION BY k) <= $max_block
)
SELECT a.id AS l, c.id AS r, $bit::UBIGINT AS bit
FROM b a JOIN b c ON a.k = c.k AND a.id < c.id
WHERE NOT $link OR (a.src = 0 AND c.src = 1);

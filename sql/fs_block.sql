-- Fellegi–Sunter, step 2: candidate pairs of one blocking rule, appended to
-- fs_blocked_raw(l, r, bit). {{.Key}}, {{.NotNull}} and {{.From}} are
-- rendered by identity/match from the rule's validated attribute names, never
-- from input; a rule on "name" reads one row per name of a record (first or
-- last), so it also pairs swapped and half-missing names.
--
-- The first statement keys every record; Go then reads the block sizes
-- (fs_block_sizes.sql) and picks $max_block so that the rule stays within its
-- pair budget. Larger blocks are skipped: a value shared by that many records
-- says little, and the join would be quadratic.
-- Parameters: $bit, $max_block, $link.
-- (names are distinct within a record, so no key repeats for one record.)
-- Singleton blocks are dropped at once: they pair nothing.
CREATE OR REPLACE TEMP TABLE fs_block_keys AS
WITH k AS (
    SELECT id, src, hash({{.Key}}) AS k
    FROM {{.From}}
    WHERE {{.NotNull}}
)
SELECT k.* FROM k SEMI JOIN (SELECT k FROM k GROUP BY k HAVING count(*) > 1) s USING (k);

INSERT INTO fs_blocked_raw
WITH b AS (
    SELECT id, src, k FROM fs_block_keys
    SEMI JOIN (SELECT k FROM fs_block_keys GROUP BY k HAVING count(*) <= $max_block) s USING (k)
)
SELECT a.id AS l, c.id AS r, $bit::UBIGINT AS bit
FROM b a JOIN b c ON a.k = c.k AND a.id < c.id
WHERE NOT $link OR (a.src = 0 AND c.src = 1);

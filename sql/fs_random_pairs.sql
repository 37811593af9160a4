-- Fellegi–Sunter, step 2: random record pairs for estimating u.
-- Ids in fs_records are dense: 0..$n-1, source 0 first ($n0 records).
-- Dedupe ($link = false): any two distinct records. Link: one from each source.
-- Parameters: $seed (0..1), $pairs, $n, $n0, $link.
SELECT setseed($seed);

CREATE OR REPLACE TEMP TABLE fs_random AS
SELECT DISTINCT least(x, y) AS l, greatest(x, y) AS r, 0::UBIGINT AS mask
FROM (
    SELECT
        CASE WHEN $link THEN floor(random() * $n0) ELSE floor(random() * $n) END::BIGINT AS x,
        CASE WHEN $link THEN $n0 + floor(random() * ($n - $n0)) ELSE floor(random() * $n) END::BIGINT AS y
    FROM range($pairs)
)
WHERE x <> y;

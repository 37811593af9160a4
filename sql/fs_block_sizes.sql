-- Block sizes of the rule keyed in fs_block_keys (see fs_block.sql): how
-- many blocks have each size, and the pairs each would produce (in link
-- mode only pairs across the two sources).
-- Parameters: $link.
SELECT n, count(*) AS blocks, sum(pairs)::DOUBLE AS pairs
FROM (
    SELECT count(*) AS n,
        CASE WHEN $link THEN count(*) FILTER (WHERE src = 0) * count(*) FILTER (WHERE src = 1)
             ELSE count(*) * (count(*) - 1) / 2 END AS pairs
    FROM fs_block_keys GROUP BY k
)
WHERE n > 1
GROUP BY n ORDER BY n;

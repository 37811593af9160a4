-- Fellegi–Sunter, step 5: match weight and probability of every candidate
-- pair, kept when the probability reaches the threshold.
-- Input: fs_compared (the candidate pairs), fs_pattern_weight(key, weight)
-- written by Go after EM (prior and per-level Bayes factors, plus log2 u of
-- frequency-adjusted exact levels). Output: fs_edges(l, r, weight, prob).
-- Parameters: $tf_on (BOOLEAN), $threshold (probability).
CREATE OR REPLACE TEMP TABLE fs_edges AS
SELECT l, r, weight, 1.0 / (1.0 + pow(2.0, -weight)) AS prob
FROM (
    SELECT c.l, c.r, (w.weight - CASE WHEN $tf_on THEN c.tf ELSE 0 END)::DOUBLE AS weight
    FROM fs_compared c JOIN fs_pattern_weight w ON w.key = c.key
)
WHERE 1.0 / (1.0 + pow(2.0, -weight)) >= $threshold;

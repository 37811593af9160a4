-- Connected components by label propagation, the SQL alternative to the Go
-- union-find (identity.UnionFind). Each round every node takes the smallest
-- label among itself and its neighbours; Go repeats fs_lp_step until
-- fs_lp_changed returns 0.
-- Input: fs_cc_edges(l, r). Output: fs_lp(id, label).
CREATE OR REPLACE TEMP TABLE fs_lp AS
SELECT id, id AS label FROM (SELECT l AS id FROM fs_cc_edges UNION SELECT r FROM fs_cc_edges);

CREATE OR REPLACE TEMP TABLE fs_lp_edges AS
SELECT l AS a, r AS b FROM fs_cc_edges UNION ALL SELECT r, l FROM fs_cc_edges;

-- One round of label propagation (see fs_label_propagation.sql).
CREATE OR REPLACE TEMP TABLE fs_lp_next AS
SELECT p.id, least(p.label, coalesce(min(q.label), p.label)) AS label
FROM fs_lp p
LEFT JOIN fs_lp_edges e ON e.a = p.id
LEFT JOIN fs_lp q ON q.id = e.b
GROUP BY p.id, p.label;

CREATE OR REPLACE TEMP TABLE fs_lp_changed AS
SELECT count(*) AS n FROM fs_lp_next x JOIN fs_lp p USING (id) WHERE x.label <> p.label;

CREATE OR REPLACE TEMP TABLE fs_lp AS SELECT * FROM fs_lp_next;

-- Curate, step 2: golden profiles.
-- Inputs: the tables of curate_events.sql, plus
--   cur_candidates  (workspace, cdp_id, attr, value JSON, source, record, ts TIMESTAMP):
--                   every attribute value any source offers for a profile
--   cur_rules       (attr, rule, priority VARCHAR[]): survivorship per attribute
-- Parameters: $default_rule, $as_of.

-- Survivorship. Rules: most_recent, first_non_empty (oldest non-empty),
-- most_frequent (ties: most recent), source_priority (list order; ties:
-- most recent). Empty strings and JSON nulls never win.
CREATE OR REPLACE TEMP TABLE cur_winners AS
SELECT * EXCLUDE (rn, prio, freq) FROM (
  SELECT *, row_number() OVER (
      PARTITION BY workspace, cdp_id, attr
      ORDER BY CASE rule WHEN 'source_priority' THEN prio ELSE 0 END,
               CASE rule WHEN 'most_frequent' THEN -freq ELSE 0 END,
               CASE rule WHEN 'first_non_empty' THEN epoch_us(ts) ELSE -epoch_us(ts) END,
               source, record) AS rn
  FROM (
    SELECT c.*, coalesce(r.rule, $default_rule) AS rule,
      coalesce(list_position(r.priority, c.source), 1000) AS prio,
      count(*) OVER (PARTITION BY c.workspace, c.cdp_id, c.attr, CAST(c.value AS VARCHAR)) AS freq
    FROM cur_candidates AS c LEFT JOIN cur_rules AS r ON r.attr = c.attr
    WHERE c.value IS NOT NULL AND json_type(c.value) <> 'NULL' AND CAST(c.value AS VARCHAR) <> '""'
  )
) WHERE rn = 1;

CREATE OR REPLACE TEMP TABLE cur_profiles AS
WITH ids AS (
  SELECT workspace, cdp_id,
    -- list_sort(list(…)), not list(… ORDER BY …): the same list, but an
    -- ordered aggregate buffers and sorts every group apart (3× slower).
    CAST(to_json(list_sort(list({'type': id_type, 'value': id_value}))) AS VARCHAR) AS identifiers
  FROM cur_idmap GROUP BY ALL
), golden AS (
  SELECT workspace, cdp_id,
    -- json_group_object (a macro over string_agg) with the keys in name
    -- order: the winners' row order depends on how the events were read
    -- and joined (threads), and a build must not. Sorted lists, as above.
    '{' || array_to_string(list_transform(list_sort(list({'k': attr, 'v': coalesce(to_json(value), 'null')})),
        x -> to_json(x.k) || ':' || x.v), ',') || '}' AS traits,
    '{' || array_to_string(list_transform(list_sort(list({'k': attr,
        'v': to_json(json_object('source', source, 'record', record, 'time', strftime(ts, '%Y-%m-%dT%H:%M:%S.%fZ')))})),
        x -> to_json(x.k) || ':' || x.v), ',') || '}' AS provenance
  FROM cur_winners GROUP BY ALL
), days AS (
  SELECT workspace, cdp_id, CAST(to_json(list_sort(list({'event': event, 'day': day, 'n': n}))) AS VARCHAR) AS event_days
  FROM (
    SELECT workspace, cdp_id, event, CAST("timestamp" AS DATE) AS day, count(*) AS n
    FROM cur_events_resolved WHERE type = 'track' AND event IS NOT NULL GROUP BY ALL
  ) GROUP BY ALL
), rfm AS (
  SELECT workspace, cdp_id,
    date_diff('day', last_order_at, CAST($as_of AS TIMESTAMP)) AS days_since_last_order,
    ntile(5) OVER (PARTITION BY workspace ORDER BY last_order_at) AS rfm_recency,
    ntile(5) OVER (PARTITION BY workspace ORDER BY orders_total) AS rfm_frequency,
    ntile(5) OVER (PARTITION BY workspace ORDER BY revenue_total) AS rfm_monetary,
    revenue_total / orders_total AS avg_order_value
  FROM cur_computed WHERE orders_total > 0
)
SELECT ids.workspace, ids.cdp_id, ids.identifiers,
  coalesce(golden.traits, '{}') AS traits,
  coalesce(golden.provenance, '{}') AS provenance,
  coalesce(c.events_total, 0) AS events_total,
  coalesce(CAST(ec.event_counts AS VARCHAR), '{}') AS event_counts,
  coalesce(c.page_views, 0) AS page_views,
  coalesce(c.screen_views, 0) AS screen_views,
  c.first_seen, c.last_seen,
  coalesce(c.revenue_total, 0) AS revenue_total,
  coalesce(c.orders_total, 0) AS orders_total,
  rfm.rfm_recency, rfm.rfm_frequency, rfm.rfm_monetary,
  CASE WHEN rfm.rfm_recency IS NOT NULL THEN concat(rfm.rfm_recency, rfm.rfm_frequency, rfm.rfm_monetary) END AS rfm_score,
  rfm.days_since_last_order, rfm.avg_order_value,
  coalesce(days.event_days, '[]') AS event_days,
  CAST($as_of AS TIMESTAMP) AS updated_at
FROM ids
LEFT JOIN golden USING (workspace, cdp_id)
LEFT JOIN cur_computed AS c USING (workspace, cdp_id)
LEFT JOIN cur_event_counts AS ec USING (workspace, cdp_id)
LEFT JOIN days USING (workspace, cdp_id)
LEFT JOIN rfm USING (workspace, cdp_id);

-- The relations segment SQL reads (sql/segment.go).
CREATE OR REPLACE TEMP VIEW segment_profiles AS
SELECT workspace, cdp_id, traits, events_total, page_views, revenue_total, orders_total, first_seen, last_seen FROM cur_profiles;
CREATE OR REPLACE TEMP VIEW segment_events AS
SELECT workspace, cdp_id, type, event, "timestamp" FROM cur_events_resolved;
CREATE OR REPLACE TEMP VIEW segment_identifiers AS
SELECT DISTINCT workspace, cdp_id, id_type AS type FROM cur_idmap;

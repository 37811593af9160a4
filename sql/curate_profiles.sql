-- Curate, step 3: golden profiles.
-- Inputs: the tables of curate_events.sql, plus
--   cur_golden  (pid, traits, provenance): the winners' JSON objects (curate.go)
-- Parameter: $as_of.

-- The build's time, for the view below (a view takes no parameters).
CREATE OR REPLACE TEMP TABLE cur_as_of AS SELECT CAST($as_of AS TIMESTAMP) AS as_of;

-- The profiles, keyed by pid (curate exports them without it). A view: the
-- export computes it once, straight into Parquet; a table of it was a copy
-- of every JSON column (500 MB at 300k customers) that spilled at scale.
CREATE OR REPLACE TEMP VIEW cur_profiles AS
WITH counts AS (
  -- json_group_object (a macro over string_agg) with the keys in name
  -- order: the rows' order depends on threads, and a build must not.
  SELECT pid,
    CAST('{' || array_to_string(list_transform(list_sort(list({'k': event, 'n': n})), x -> to_json(x.k) || ':' || to_json(x.n)), ',') || '}' AS JSON) AS event_counts
  FROM (SELECT pid, event, CAST(sum(n) AS BIGINT) AS n FROM cur_event_days GROUP BY ALL)
  GROUP BY pid
), days AS (
  SELECT pid, CAST(to_json(list_sort(list({'event': event, 'day': day, 'n': n}))) AS VARCHAR) AS event_days
  FROM cur_event_days GROUP BY pid
), ords AS (
  -- The orders the profile remembers (cur_orders), sorted by order_id, so
  -- a reconcile hands them to the speed layer: a refund or a copy of an
  -- order from before the build then finds it. at is in Unix
  -- microseconds, amounts in millionths; at, kafka_partition,
  -- kafka_offset, amount and total are null for an order not completed.
  SELECT pid, CAST(to_json(list_sort(list({'order_id': order_id, 'at': epoch_us(completed_at), 'kafka_partition': kafka_partition,
      'kafka_offset': kafka_offset, 'amount': amount, 'total': total, 'refund_total': refund_total,
      'refund_total_amount': refund_total_amount, 'refund_other': refund_other, 'refund_full': refund_full}))) AS VARCHAR) AS orders
  FROM cur_orders GROUP BY pid
), rfm AS (
  -- pid breaks ties (it is in cdp_id order), so a build's buckets are its
  -- own and the same every run.
  SELECT pid,
    -- UTC days; date_diff of a TIMESTAMPTZ goes through ICU (5 µs a row).
    CAST(b.as_of AS DATE) - CAST(make_timestamp(epoch_us(last_order_at)) AS DATE) AS days_since_last_order,
    ntile(5) OVER (PARTITION BY i.workspace ORDER BY last_order_at, pid) AS rfm_recency,
    ntile(5) OVER (PARTITION BY i.workspace ORDER BY orders_total, pid) AS rfm_frequency,
    ntile(5) OVER (PARTITION BY i.workspace ORDER BY revenue_total, pid) AS rfm_monetary,
    revenue_total / orders_total AS avg_order_value
  FROM cur_computed JOIN cur_ids AS i USING (pid), cur_as_of AS b WHERE orders_total > 0
)
SELECT i.workspace, i.cdp_id, i.identifiers,
  coalesce(golden.traits, '{}') AS traits,
  coalesce(golden.provenance, '{}') AS provenance,
  coalesce(c.events_total, 0) AS events_total,
  coalesce(CAST(counts.event_counts AS VARCHAR), '{}') AS event_counts,
  coalesce(c.page_views, 0) AS page_views,
  coalesce(c.screen_views, 0) AS screen_views,
  c.first_seen, c.last_seen,
  coalesce(c.revenue_total, 0) AS revenue_total,
  coalesce(c.orders_total, 0) AS orders_total,
  rfm.rfm_recency, rfm.rfm_frequency, rfm.rfm_monetary,
  CASE WHEN rfm.rfm_recency IS NOT NULL THEN concat(rfm.rfm_recency, rfm.rfm_frequency, rfm.rfm_monetary) END AS rfm_score,
  rfm.days_since_last_order, rfm.avg_order_value,
  coalesce(days.event_days, '[]') AS event_days,
  coalesce(ords.orders, '[]') AS orders,
  b.as_of AS updated_at,
  i.pid
FROM cur_ids AS i
CROSS JOIN cur_as_of AS b
LEFT JOIN cur_golden AS golden USING (pid)
LEFT JOIN cur_computed AS c USING (pid)
LEFT JOIN counts USING (pid)
LEFT JOIN days USING (pid)
LEFT JOIN ords USING (pid)
LEFT JOIN rfm USING (pid);

-- What curate writes to curated/profiles.
CREATE OR REPLACE TEMP VIEW cur_profiles_out AS SELECT * EXCLUDE (pid) FROM cur_profiles;

-- The relations segment SQL reads (sql/segment.go). Their cdp_id is the
-- pid: the compiled SQL only compares it between these relations, and
-- curate maps the members back to cdp_ids. The profiles' columns it reads
-- only, NULLs as the compiler takes them (no trait, no events).
CREATE OR REPLACE TEMP TABLE segment_profiles AS
SELECT i.workspace, i.pid AS cdp_id, g.traits, c.events_total, c.page_views, c.revenue_total, c.orders_total, c.first_seen, c.last_seen
FROM cur_ids AS i LEFT JOIN cur_golden AS g USING (pid) LEFT JOIN cur_computed AS c USING (pid);
CREATE OR REPLACE TEMP VIEW segment_events AS
SELECT workspace, pid AS cdp_id, type, event, "timestamp" FROM cur_ev;
CREATE OR REPLACE TEMP VIEW segment_identifiers AS
SELECT DISTINCT workspace, pid AS cdp_id, id_type AS type FROM cur_idmap_k;
CREATE OR REPLACE TEMP VIEW segment_event_days AS
SELECT i.workspace, d.pid AS cdp_id, d.event, d.day - DATE '1970-01-01' AS day, d.n FROM cur_event_days AS d JOIN cur_ids AS i USING (pid);

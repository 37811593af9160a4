-- Curate, step 1: events and what every profile computes from them.
-- Inputs (views the curate job creates first):
--   cur_events_raw  raw/events files below the build's watermark
--   cur_idmap       (workspace, id_type, id_value, cdp_id), the resolved identity map
-- The definitions mirror the speed layer's (speed/store.go, speed/op.go),
-- so a profile's computed traits are equal in both layers.

-- Each message once, the first landed copy (macros.sql).
-- Empty JSON text counts as absent.
CREATE OR REPLACE TEMP TABLE cur_events AS
SELECT * REPLACE (nullif(traits, '') AS traits, nullif(properties, '') AS properties)
FROM first_landed('cur_events_raw');

-- The profile of each event: by user id first, else by anonymous id.
CREATE OR REPLACE TEMP TABLE cur_event_profiles AS
SELECT e.workspace, e.message_id, coalesce(mu.cdp_id, ma.cdp_id) AS cdp_id
FROM cur_events AS e
LEFT JOIN cur_idmap AS mu ON mu.workspace = e.workspace AND mu.id_type = 'user_id' AND mu.id_value = e.user_id
LEFT JOIN cur_idmap AS ma ON ma.workspace = e.workspace AND ma.id_type = 'anonymous_id' AND ma.id_value = e.anonymous_id;

-- Segment e-commerce amounts: revenue, else total, else value, else the sum
-- of products' price × quantity (quantity 1 when missing); refunds subtract.
-- Amounts are rounded to millionths per event, as the speed layer keeps them.
CREATE OR REPLACE TEMP TABLE cur_events_resolved AS
SELECT e.*, p.cdp_id,
  CASE WHEN e.type = 'track' AND e.event IN ('Order Completed', 'Order Refunded') THEN
    (CASE WHEN e.event = 'Order Refunded' THEN -1 ELSE 1 END) * round(1e6 * coalesce(
      try_cast(json_extract_string(e.properties, '$.revenue') AS DOUBLE),
      try_cast(json_extract_string(e.properties, '$.total') AS DOUBLE),
      try_cast(json_extract_string(e.properties, '$.value') AS DOUBLE),
      list_sum(list_transform(
        coalesce(json_extract(e.properties, '$.products[*]'), []::JSON[]),
        x -> try_cast(json_extract_string(x, '$.price') AS DOUBLE) * coalesce(try_cast(json_extract_string(x, '$.quantity') AS DOUBLE), 1))),
      0))
  ELSE 0 END AS revenue_micros
FROM cur_events AS e JOIN cur_event_profiles AS p USING (workspace, message_id)
WHERE p.cdp_id IS NOT NULL;

CREATE OR REPLACE TEMP TABLE cur_computed AS
SELECT workspace, cdp_id,
  count(*) AS events_total,
  count(*) FILTER (WHERE type = 'page') AS page_views,
  count(*) FILTER (WHERE type = 'screen') AS screen_views,
  min("timestamp") AS first_seen,
  max("timestamp") AS last_seen,
  count(*) FILTER (WHERE type = 'track' AND event = 'Order Completed') AS orders_total,
  CAST(sum(revenue_micros) AS DOUBLE) / 1e6 AS revenue_total,
  max("timestamp") FILTER (WHERE type = 'track' AND event = 'Order Completed') AS last_order_at
FROM cur_events_resolved
GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE cur_event_counts AS
-- json_group_object with the keys in name order (see curate_profiles.sql).
SELECT workspace, cdp_id,
  CAST('{' || array_to_string(list_transform(list_sort(list({'k': event, 'n': n})), x -> to_json(x.k) || ':' || to_json(x.n)), ',') || '}' AS JSON) AS event_counts
FROM (
  SELECT workspace, cdp_id, event, count(*) AS n
  FROM cur_events_resolved WHERE type = 'track' AND event IS NOT NULL
  GROUP BY ALL
)
GROUP BY ALL;

-- Identify traits, last writer wins by (event time, partition, offset).
CREATE OR REPLACE TEMP TABLE cur_event_traits AS
SELECT workspace, cdp_id, name,
  arg_max(value, ("timestamp", kafka_partition, kafka_offset)) AS value,
  arg_max(message_id, ("timestamp", kafka_partition, kafka_offset)) AS record,
  max("timestamp") AS ts
FROM (
  SELECT e.workspace, e.cdp_id, e.message_id, e."timestamp", e.kafka_partition, e.kafka_offset, k.name,
    json_extract(e.traits, '$."' || replace(k.name, '"', '\"') || '"') AS value
  FROM cur_events_resolved AS e, unnest(json_keys(e.traits)) AS k(name)
  WHERE e.type = 'identify' AND e.traits IS NOT NULL AND json_type(e.traits) = 'OBJECT'
)
GROUP BY ALL;

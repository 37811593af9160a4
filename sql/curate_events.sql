-- Curate, step 1: events and what every profile computes from them.
-- Inputs (relations the curate job creates first):
--   cur_events_raw  raw/events files below the build's watermark
--   cur_idmap       (workspace, id_type, id_value, cdp_id), the resolved identity map
--   cur_id_traits   (trait, id_type, path): identify traits that carry identifiers
-- The definitions mirror the speed layer's (speed/store.go, speed/op.go),
-- so a profile's computed traits are equal in both layers.
--
-- Profiles are keyed by an integer, pid, in (workspace, cdp_id) order:
-- every later join and aggregate groups by it rather than by the 36-byte
-- cdp_id strings (at 1M customers those were the bulk of the stage's
-- hashing and of its memory). cur_profiles maps pids back.

-- Every profile once, with its key and its identifiers (a JSON list).
CREATE OR REPLACE TEMP TABLE cur_ids AS
SELECT workspace, cdp_id, CAST(row_number() OVER (ORDER BY workspace, cdp_id) AS INTEGER) AS pid,
  -- list_sort(list(…)), not list(… ORDER BY …): the same list, but an
  -- ordered aggregate buffers and sorts every group apart (3× slower).
  CAST(to_json(list_sort(list({'type': id_type, 'value': id_value}))) AS VARCHAR) AS identifiers
FROM cur_idmap GROUP BY workspace, cdp_id;

CREATE OR REPLACE TEMP TABLE cur_idmap_k AS
SELECT m.workspace, m.id_type, m.id_value, i.pid
FROM cur_idmap AS m JOIN cur_ids AS i USING (workspace, cdp_id);
-- The map by pid is what curate reads from here on.
DROP TABLE cur_idmap;

-- One read of the events, only the columns curate uses, each with its
-- profile: by user id first, else by anonymous id (else as below). The
-- e-commerce amount of a segment: revenue, else total, else value, else the
-- sum of products' price × quantity (quantity 1 when missing), NULL when
-- none of them is there; refunds subtract. Amounts are read as the speed
-- layer reads them (parse_amount) and rounded to millionths per event, as
-- it keeps them (amount_micros). Keys match exactly and a key written twice
-- counts its last value (json_repeated, amount_at), as the speed layer reads
-- them and as for traits. An order event with an order_id (a string
-- or a number as spelt, as trait_identifier reads one) moves no revenue
-- here: its order does (cur_orders). Empty JSON text counts as absent. h
-- hashes the message key for the retry check below.
CREATE OR REPLACE TEMP TABLE cur_ev AS
SELECT e.workspace, coalesce(mu.pid, ma.pid) AS pid, e.message_id,
  CASE WHEN e.workspace IS NOT NULL AND e.message_id IS NOT NULL THEN hash(e.workspace, e.message_id) END AS h,
  e.type, e.event, e."timestamp", e.kafka_partition, e.kafka_offset,
  CASE WHEN e.order_id IS NULL THEN (CASE WHEN e.event = 'Order Refunded' THEN -1 ELSE 1 END) * amount_micros(e.amount) ELSE 0 END AS revenue_micros,
  e.order_id,
  CASE WHEN e.order_id IS NOT NULL THEN amount_micros(e.amount) END AS amount_micros,
  CASE WHEN e.order_id IS NOT NULL THEN e.amount IS NOT NULL END AS has_amount,
  CASE WHEN e.order_id IS NOT NULL AND e.total IS NOT NULL THEN amount_micros(e.total) END AS total_micros,
  CASE WHEN e.type = 'identify' THEN nullif(e.traits, '') END AS traits,
  -- The ids of an event that neither of its ids as written puts in a
  -- profile (rare: a blocked user id, one with spaces), for the fallback
  -- below; NULL for every other.
  CASE WHEN mu.pid IS NULL AND ma.pid IS NULL THEN {'user_id': e.user_id, 'anonymous_id': e.anonymous_id, 'previous_id': e.previous_id} END AS ids
FROM (
  SELECT *, CASE WHEN o THEN coalesce(
      amount_at(nullif(properties, ''), 'revenue', '$.revenue'),
      amount_at(nullif(properties, ''), 'total', '$.total'),
      amount_at(nullif(properties, ''), 'value', '$.value'),
      list_sum(list_transform(
        coalesce(CASE WHEN json_repeated(nullif(properties, ''), 'products') THEN json_extract(json_last_member(nullif(properties, ''), 'products'), '$[*]')
          ELSE json_extract(nullif(properties, ''), '$.products[*]') END, []::JSON[]),
        x -> amount_at(x, 'price', '$.price') * coalesce(amount_at(x, 'quantity', '$.quantity'), 1)))
    ) END AS amount,
    CASE WHEN o THEN amount_at(nullif(properties, ''), 'total', '$.total') END AS total,
    CASE WHEN o THEN nullif(trait_identifier(nullif(properties, ''), 'order_id', '$.order_id'), '') END AS order_id
  FROM (SELECT *, type = 'track' AND event IN ('Order Completed', 'Order Refunded') AS o FROM cur_events_raw)
) AS e
LEFT JOIN cur_idmap_k AS mu ON mu.workspace = e.workspace AND mu.id_type = 'user_id' AND mu.id_value = e.user_id
LEFT JOIN cur_idmap_k AS ma ON ma.workspace = e.workspace AND ma.id_type = 'anonymous_id' AND ma.id_value = e.anonymous_id;

-- Each message once, the first landed copy, as first_landed (macros.sql)
-- keeps it, whether or not that copy has a profile: only messages whose key
-- hash is seen more than once (retries, and the rare hash collision) go
-- through the window, and the later copies are deleted (usually none: no
-- copy of the table). The identity map is a function of the identifier
-- (resolve assigns each identifier node one cdp_id), so the joins above
-- give each landed row at most one row here.
DELETE FROM cur_ev WHERE rowid IN (
  SELECT rowid FROM (
    SELECT rowid, row_number() OVER (PARTITION BY workspace, message_id ORDER BY kafka_partition, kafka_offset) AS rn
    FROM cur_ev WHERE h IN (SELECT h FROM cur_ev WHERE h IS NOT NULL GROUP BY h HAVING count(*) > 1)
  ) WHERE rn > 1
);

-- An event whose ids as written are not in the map belongs, as in the
-- speed layer, to the profile of any identifier it carries once normalized
-- and unblocked: its ids, an alias's previous id (as a user id or an
-- anonymous id), the identify traits that carry identifiers (cur_id_traits:
-- trait, id_type, path). The first of them in that order the map holds.
CREATE OR REPLACE TEMP TABLE cur_ev_more AS
WITH u AS (SELECT workspace, kafka_partition, kafka_offset, ids, traits FROM cur_ev WHERE pid IS NULL AND ids IS NOT NULL),
c AS (
  SELECT *, usable_identifier(workspace, id_type, whole(raw)) AS id_value FROM (
    SELECT workspace, kafka_partition, kafka_offset, 0 AS k, 'user_id' AS id_type, ids.user_id AS raw FROM u
    UNION ALL SELECT workspace, kafka_partition, kafka_offset, 1, 'anonymous_id', ids.anonymous_id FROM u
    UNION ALL SELECT workspace, kafka_partition, kafka_offset, 2, 'user_id', ids.previous_id FROM u
    UNION ALL SELECT workspace, kafka_partition, kafka_offset, 3, 'anonymous_id', ids.previous_id FROM u
    UNION ALL SELECT u.workspace, u.kafka_partition, u.kafka_offset, 4, t.id_type, trait_identifier(u.traits, t.trait, t.path)
    FROM u, cur_id_traits AS t WHERE u.traits IS NOT NULL
  ) WHERE raw IS NOT NULL
)
SELECT c.kafka_partition, c.kafka_offset, arg_min(m.pid, (c.k, c.id_type)) AS pid
FROM c JOIN cur_idmap_k AS m USING (workspace, id_type, id_value)
GROUP BY ALL;
UPDATE cur_ev SET pid = x.pid FROM cur_ev_more AS x
WHERE cur_ev.pid IS NULL AND cur_ev.kafka_partition = x.kafka_partition AND cur_ev.kafka_offset = x.kafka_offset;

-- Events without a profile count nowhere.
DELETE FROM cur_ev WHERE pid IS NULL;

-- Orders by order_id, per profile, as the speed layer remembers them
-- (speed/orders.go): the completion counted is the earliest by (event
-- time, offset, partition), the Kafka position the speed layer orders
-- equal times by; refunds are summed: the totals of those that carry one
-- and their amounts, the amounts of the others, and whether one carried
-- no amount (a full refund). Amounts in millionths.
CREATE OR REPLACE TEMP TABLE cur_orders AS
SELECT pid, order_id,
  c.at IS NOT NULL AS completed, c.at AS completed_at, c.kafka_partition, c.kafka_offset, c.amount, c.total,
  refund_total, refund_total_amount, refund_other, refund_full
FROM (
  SELECT pid, order_id,
    arg_min({'at': "timestamp", 'kafka_partition': kafka_partition, 'kafka_offset': kafka_offset, 'amount': amount_micros, 'total': total_micros},
      ("timestamp", kafka_offset, kafka_partition)) FILTER (WHERE event = 'Order Completed') AS c,
    CAST(coalesce(sum(total_micros) FILTER (WHERE event = 'Order Refunded' AND total_micros IS NOT NULL), 0) AS BIGINT) AS refund_total,
    CAST(coalesce(sum(amount_micros) FILTER (WHERE event = 'Order Refunded' AND total_micros IS NOT NULL), 0) AS BIGINT) AS refund_total_amount,
    CAST(coalesce(sum(amount_micros) FILTER (WHERE event = 'Order Refunded' AND total_micros IS NULL AND has_amount), 0) AS BIGINT) AS refund_other,
    coalesce(bool_or(NOT has_amount) FILTER (WHERE event = 'Order Refunded'), false) AS refund_full
  FROM cur_ev WHERE order_id IS NOT NULL
  GROUP BY pid, order_id
);

-- What each order counts (speed/orders.go, order.counts): a completed
-- order its amount less its refunds, and 1; the refunds of an order not
-- seen what they carry. Refunds take off between 0 and the amount: all of
-- it after one without an amount; else those that carry a total in the
-- order's measure (amount × refunded total / order total, rounded down)
-- when the order's total is above 0, else their amounts; plus the others.
CREATE OR REPLACE TEMP TABLE cur_order_counts AS
SELECT pid,
  sum(CASE WHEN NOT completed THEN -(refund_total_amount + refund_other)
    WHEN amount <= 0 THEN amount
    WHEN refund_full THEN 0
    ELSE amount - least(greatest(refund_other + CASE WHEN total > 0
        THEN CAST(CAST(amount AS HUGEINT) * least(greatest(refund_total, 0), total) // total AS BIGINT)
        ELSE refund_total_amount END, 0), amount) END) AS revenue_micros,
  count(*) FILTER (WHERE completed) AS orders
FROM cur_orders GROUP BY pid;

CREATE OR REPLACE TEMP TABLE cur_computed AS
SELECT pid, e.events_total, e.page_views, e.screen_views, e.first_seen, e.last_seen,
  e.orders_total + coalesce(o.orders, 0) AS orders_total,
  CAST(e.revenue_micros + coalesce(o.revenue_micros, 0) AS DOUBLE) / 1e6 AS revenue_total,
  e.last_order_at
FROM (
  SELECT pid,
    count(*) AS events_total,
    count(*) FILTER (WHERE type = 'page') AS page_views,
    count(*) FILTER (WHERE type = 'screen') AS screen_views,
    min("timestamp") AS first_seen,
    max("timestamp") AS last_seen,
    count(*) FILTER (WHERE type = 'track' AND event = 'Order Completed' AND order_id IS NULL) AS orders_total,
    sum(revenue_micros) AS revenue_micros,
    max("timestamp") FILTER (WHERE type = 'track' AND event = 'Order Completed') AS last_order_at
  FROM cur_ev
  GROUP BY pid
) AS e LEFT JOIN cur_order_counts AS o USING (pid);

-- Track events per profile, name and UTC day, as the speed layer counts
-- them: the event_days trait, summed, event_counts, and what segments count
-- (segment_event_days, curate_profiles.sql). The UTC date by make_timestamp:
-- a cast of the TIMESTAMPTZ goes through ICU, in the session's time zone.
CREATE OR REPLACE TEMP TABLE cur_event_days AS
SELECT pid, event, CAST(make_timestamp(epoch_us("timestamp")) AS DATE) AS day, count(*) AS n
FROM cur_ev WHERE type = 'track' AND event IS NOT NULL
GROUP BY ALL;

-- Identify traits, last writer wins by (event time, offset, partition):
-- the speed layer's order of equal times (Op.seq in speed/op.go). The
-- winner's position goes into the provenance, so a reconcile keeps that
-- order between base traits and events it replays.
CREATE OR REPLACE TEMP TABLE cur_event_traits AS
SELECT pid, name,
  arg_max(value, ("timestamp", kafka_offset, kafka_partition)) AS value,
  arg_max(message_id, ("timestamp", kafka_offset, kafka_partition)) AS record,
  max("timestamp") AS ts,
  arg_max(kafka_partition, ("timestamp", kafka_offset, kafka_partition)) AS kafka_partition,
  arg_max(kafka_offset, ("timestamp", kafka_offset, kafka_partition)) AS kafka_offset
FROM (
  -- The values as sent (a JSON text, not DuckDB's rewrite of it).
  SELECT pid, message_id, "timestamp", kafka_partition, kafka_offset, m.k AS name, m.v AS value
  FROM (
    SELECT e.pid, e.message_id, e."timestamp", e.kafka_partition, e.kafka_offset, unnest(json_members(e.traits)) AS m
    FROM cur_ev AS e WHERE e.type = 'identify' AND e.traits IS NOT NULL
  )
)
GROUP BY ALL;

-- Curate, step 2: the winning value of every profile's attributes.
-- Inputs: the tables of curate_events.sql, plus
--   cur_candidates  (pid, attr, value (JSON text), source, record, ts TIMESTAMP,
--                   kafka_partition, kafka_offset): every attribute value any
--                   source offers for a profile (the Kafka position of an
--                   event's, NULL for a source record's)
--   cur_rules       (attr, rule, priority VARCHAR[]): survivorship per attribute
-- Parameter: $default_rule.

-- Every attribute with its rank in name order, r (0, 1, …): the golden
-- JSON objects list their keys in that order (curate.go, goldenSQL).
CREATE OR REPLACE TEMP TABLE cur_attrs AS
SELECT attr, CAST(row_number() OVER (ORDER BY attr) - 1 AS INTEGER) AS r FROM (SELECT DISTINCT attr FROM cur_candidates);

-- Survivorship. Rules: most_recent, first_non_empty (oldest non-empty),
-- most_frequent (ties: most recent), source_priority (list order; ties:
-- most recent). Empty strings and JSON nulls never win, but an identify
-- call's under most_recent: the latest call's value as sent, as the speed
-- layer's last-writer-wins keeps it (README, traits). The winner is the
-- least candidate by (rule key, source, record), one aggregate per
-- profile and attribute; only the candidates of most_frequent attributes
-- are counted (a window over every candidate cost as much as the rest).
CREATE OR REPLACE TEMP TABLE cur_winners AS
SELECT pid, a.r,
  -- The winner's "key":value of the traits JSON and "key":{…} of the
  -- provenance, as json_object writes them; the time in UTC (strftime of a
  -- TIMESTAMPTZ goes through ICU, 2× the cost).
  to_json(attr) || ':' || coalesce(CAST(w.value AS VARCHAR), 'null') AS t,
  to_json(attr) || ':' || '{"source":' || coalesce(to_json(w.source), 'null') || ',"record":' || coalesce(to_json(w.record), 'null') ||
    ',"time":' || coalesce('"' || strftime(make_timestamp(epoch_us(w.ts)), '%Y-%m-%dT%H:%M:%S.%fZ') || '"', 'null') ||
    -- An event's Kafka position: the speed layer's tie-break of equal times (speed/base.go).
    coalesce(',"partition":' || w.kafka_partition || ',"offset":' || w.kafka_offset, '') || '}' AS p
FROM (
  SELECT pid, attr,
    arg_min({'value': value, 'source': source, 'record': record, 'ts': ts, 'kafka_partition': kafka_partition, 'kafka_offset': kafka_offset},
      {'p': CASE rule WHEN 'source_priority' THEN prio ELSE 0 END,
       'f': CASE rule WHEN 'most_frequent' THEN -freq ELSE 0 END,
       't': CASE rule WHEN 'first_non_empty' THEN epoch_us(ts) ELSE -epoch_us(ts) END,
       's': source, 'r': record}) AS w
  FROM (
    -- JSON text here has no space around it (json_members, to_json), so null is 'null'.
    SELECT c.*, coalesce(r.rule, $default_rule) AS rule, coalesce(list_position(r.priority, c.source), 1000) AS prio, 0 AS freq
    FROM cur_candidates AS c LEFT JOIN cur_rules AS r ON r.attr = c.attr
    WHERE c.value IS NOT NULL AND coalesce(r.rule, $default_rule) <> 'most_frequent'
      AND (CAST(c.value AS VARCHAR) NOT IN ('null', '""') OR c.source = 'events' AND coalesce(r.rule, $default_rule) = 'most_recent')
    UNION ALL
    SELECT *, count(*) OVER (PARTITION BY pid, attr, CAST(value AS VARCHAR)) AS freq FROM (
      SELECT c.*, coalesce(r.rule, $default_rule) AS rule, coalesce(list_position(r.priority, c.source), 1000) AS prio
      FROM cur_candidates AS c LEFT JOIN cur_rules AS r ON r.attr = c.attr
      WHERE c.value IS NOT NULL AND CAST(c.value AS VARCHAR) NOT IN ('null', '""') AND coalesce(r.rule, $default_rule) = 'most_frequent'
    )
  )
  GROUP BY pid, attr
) JOIN cur_attrs AS a USING (attr);

-- Resolve over raw/events (before the first cleanse): each message counts
-- once, as cleanse would keep it; retries share (workspace, message_id) and
-- the first landed copy wins. clean/events needs none of this: cleanse
-- already kept one row per message, and sorting 10M rows again costs more
-- than the rest of the observation.
-- Only the messages landed more than once go through the window (see
-- cleanse_events.sql).
CREATE OR REPLACE TEMP TABLE rs_events AS
WITH dup AS (SELECT workspace, message_id FROM rs_events_raw GROUP BY ALL HAVING count(*) > 1)
SELECT * FROM rs_events_raw ANTI JOIN dup USING (workspace, message_id)
UNION ALL
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY workspace, message_id ORDER BY kafka_partition, kafka_offset) AS rn
    FROM rs_events_raw SEMI JOIN dup USING (workspace, message_id)
) WHERE rn = 1;

-- Resolve over raw/events (before the first cleanse): each message counts
-- once, as cleanse would keep it; retries share (workspace, message_id) and
-- the first landed copy wins. clean/events needs none of this: cleanse
-- already kept one row per message, and sorting 10M rows again costs more
-- than the rest of the observation.
CREATE OR REPLACE TEMP TABLE rs_events AS
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY workspace, message_id ORDER BY kafka_partition, kafka_offset) AS rn
    FROM rs_events_raw
) WHERE rn = 1;

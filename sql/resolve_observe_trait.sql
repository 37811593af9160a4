-- Resolve: an identify trait that carries an identifier (speed.identifier_traits).
-- Parameters: $trait, $path (its JSON path), $id_type.
INSERT INTO rs_obs_raw
SELECT workspace, $id_type, trait_identifier(traits, $trait, $path), 'events', message_id, "timestamp", 'identify'
FROM rs_events
WHERE type = 'identify' AND traits IS NOT NULL AND trait_identifier(traits, $trait, $path) IS NOT NULL;

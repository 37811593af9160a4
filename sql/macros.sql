-- Table macros every session defines (sql.Open).

-- first_landed(t): the rows of the landed-events table named t (a string),
-- each message once. Retries share (workspace, message_id); the first landed
-- copy (lowest kafka_partition, kafka_offset) wins, across all landed files.
-- Retries are rare, so only the messages landed more than once go through
-- the window: it sorts every row it sees with all its columns, and over all
-- of 10M events it cost more than twice the rest of cleanse's statement.
CREATE OR REPLACE TEMP MACRO first_landed(t) AS TABLE
WITH dup AS (SELECT workspace, message_id FROM query_table(t) GROUP BY ALL HAVING count(*) > 1)
SELECT * FROM query_table(t) ANTI JOIN dup USING (workspace, message_id)
UNION ALL
SELECT * EXCLUDE (rn) FROM (
    SELECT *, row_number() OVER (PARTITION BY workspace, message_id ORDER BY kafka_partition, kafka_offset) AS rn
    FROM query_table(t) SEMI JOIN dup USING (workspace, message_id)
) WHERE rn = 1;

-- json_repeated(obj, key): whether the JSON object obj may write key more
-- than once. DuckDB's paths take a repeated key's first value; the speed
-- layer takes its last, as its decoder does and as it reads an order's
-- properties, and so does json_members. The check reads the text: only
-- an object where "key" is written twice, or that has an escape and
-- repeats the key (json_keys), needs json_members. For a constant key,
-- LIKE costs about a contains (a wildcard in key, % or _, would only send
-- more objects to json_members); trait_identifier's key varies by row,
-- where LIKE is twice as slow as its strpos.
CREATE OR REPLACE TEMP MACRO json_repeated(obj, key) AS
obj LIKE '%"' || key || '"%"' || key || '"%'
  OR contains(obj, '\') AND len(list_filter(json_keys(obj), k -> k = key)) > 1;

-- json_last_member(obj, key): the JSON of the member key of the object
-- obj as written, the last value of a repeated key; NULL when there is
-- none. For the objects json_repeated sends: a path reads the others.
CREATE OR REPLACE TEMP MACRO json_last_member(obj, key) AS
CAST(list_filter(json_members(obj), m -> m.k = key)[1].v AS JSON);

-- amount_at(obj, key, path): the amount (parse_amount) at key of the
-- object obj (at path, MemberPath(key)), a repeated key's last value: a
-- numeric string's text, a number as DuckDB writes it (12.50 as 12.5, the
-- same amount); NULL when it is none.
CREATE OR REPLACE TEMP MACRO amount_at(obj, key, path) AS
parse_amount(CASE WHEN json_repeated(obj, key) THEN json_extract_string(json_last_member(obj, key), '$')
                  ELSE json_extract_string(obj, path) END);

-- trait_identifier(traits, trait, path): the identify trait named trait
-- (at path, MemberPath(trait)) as an identifier's raw value: a string or a
-- number, as the speed layer reads one (scalarString); NULL for an object,
-- a list, a boolean or null, whose JSON text json_extract_string would
-- return (an email {"a":"x@y.co"} normalizes as one). A number as it is
-- written (json_members): DuckDB writes 12.50 as 12.5, 1e3 as 1000.0.
-- A repeated key's last value, as the speed layer's decoder and
-- json_members take it (DuckDB's paths take the first). Only an object
-- where "trait" is written twice, or that has an escape and repeats the
-- key (json_keys), goes through json_members; one without "trait" and
-- without an escape has no such member and skips the JSON parse.
CREATE OR REPLACE TEMP MACRO trait_identifier(traits, trait, path) AS
CASE WHEN NOT contains(traits, '"' || trait || '"') AND NOT contains(traits, '\') THEN NULL
     WHEN contains(substr(traits, strpos(traits, '"' || trait || '"') + length(trait) + 2), '"' || trait || '"')
       OR contains(traits, '\') AND len(list_filter(json_keys(traits), k -> k = trait)) > 1
       THEN list_transform(list_filter(json_members(traits), m -> m.k = trait), m -> CASE
         WHEN json_type(m.v) = 'VARCHAR' THEN json_extract_string(m.v, '$')
         WHEN json_type(m.v) IN ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE') THEN m.v END)[1]
     WHEN json_type(traits, path) = 'VARCHAR' THEN json_extract_string(traits, path)
     WHEN json_type(traits, path) IN ('BIGINT', 'UBIGINT', 'HUGEINT', 'DOUBLE') THEN list_filter(json_members(traits), m -> m.k = trait)[1].v END;

-- whole(s): s, or NULL when it holds U+0000. The Go UDFs get a string
-- cut there ("victim\x00x" as "victim"), so an identifier passes through
-- it first: identity.Normalize makes one with U+0000 none.
CREATE OR REPLACE TEMP MACRO whole(s) AS CASE WHEN NOT contains(s, chr(0)) THEN s END;

-- amount_micros(x): an amount (parse_amount) in millionths, rounded half
-- away from zero as the speed layer rounds (speed.micros); 0 when it is
-- none, not finite, or past ±9e12.
CREATE OR REPLACE TEMP MACRO amount_micros(x) AS
CASE WHEN isfinite(x) AND abs(x) <= 9e12 THEN CAST(round(1e6 * x) AS BIGINT) ELSE 0 END;

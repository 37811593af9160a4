-- Cleanse one CRM source: raw/<source> → clean/<source>, quarantine/<source>.
-- Input: cl_src_vals(row_id, field, kind, id_type, raw): every value of the
-- source's identifier and person-attribute fields, unpivoted by the Go side
-- from the validated source definition (kind: identifier, name, date,
-- postcode, email, phone). Output: cl_src_norm(row_id, field, value) and
-- cl_src_bad(row_id, field, value, reason).
CREATE OR REPLACE TEMP TABLE cl_src_norm AS
SELECT row_id, field, raw,
    CASE kind
        WHEN 'identifier' THEN normalize_identifier(id_type, raw)
        WHEN 'email' THEN normalize_email(raw)
        WHEN 'phone' THEN normalize_phone(raw)
        WHEN 'name' THEN nullif(trim(regexp_replace(raw, '\s+', ' ', 'g')), '')
        WHEN 'postcode' THEN nullif(upper(regexp_replace(raw, '\s+', ' ', 'g')), '')
        WHEN 'date' THEN strftime(coalesce(
            try_strptime(trim(raw), '%Y-%m-%d'), try_strptime(trim(raw), '%Y%m%d'), try_strptime(trim(raw), '%Y/%m/%d'),
            try_strptime(trim(raw), '%d.%m.%Y'), try_strptime(trim(raw), '%d %b %Y'), try_strptime(trim(raw), '%b %d, %Y'),
            try_strptime(trim(raw), '%d %B %Y'), try_strptime(trim(raw), '%B %d, %Y')), '%Y-%m-%d')
    END AS value,
    kind, id_type
FROM cl_src_vals
WHERE raw IS NOT NULL AND trim(raw) <> '';

CREATE OR REPLACE TEMP TABLE cl_src_bad AS
SELECT row_id, field, raw AS value,
    CASE WHEN value IS NULL THEN 'invalid ' || CASE WHEN kind = 'identifier' THEN id_type ELSE kind END
         ELSE 'blocklisted ' || id_type END AS reason
FROM cl_src_norm
WHERE value IS NULL OR (kind = 'identifier' AND blocked_identifier(id_type, value));

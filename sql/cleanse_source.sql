-- Cleanse one CRM source: raw/<source> → clean/<source>, quarantine/<source>.
-- Input: cl_src_vals(kind, id_type, raw): every distinct non-blank value of
-- the source's identifier and person-attribute fields, gathered by the Go
-- side from the validated source definition (kind: identifier, name, date,
-- postcode, email, phone; id_type '' unless an identifier). Parameters:
-- $ws, the source's workspace, whose region reads its phone numbers. Output:
-- cl_src_verdicts(kind, id_type, raw, value, reason): the cleansed value,
-- NULL with a reason when the value is rejected. The Go side joins the rows'
-- values with it.
CREATE OR REPLACE TEMP TABLE cl_src_verdicts AS
-- Identifiers: usable_identifier (normalized, NULL when invalid or
-- blocklisted; one cgo call per value), and for the few rejected ones
-- normalize_identifier says which of the two it was. A value holding
-- U+0000 is invalid (whole): the Go functions would read it cut there.
SELECT kind, id_type, raw, value,
    CASE WHEN value IS NOT NULL THEN NULL
         WHEN kind = 'identifier' AND normalize_identifier($ws, id_type, whole(raw)) IS NOT NULL THEN 'blocklisted ' || id_type
         ELSE 'invalid ' || CASE WHEN kind = 'identifier' THEN id_type ELSE kind END
    END AS reason
FROM (
    SELECT kind, id_type, raw,
        CASE kind
            WHEN 'identifier' THEN usable_identifier($ws, id_type, whole(raw))
            WHEN 'email' THEN normalize_email(whole(raw))
            WHEN 'phone' THEN normalize_phone($ws, whole(raw))
            WHEN 'name' THEN nullif(trim(regexp_replace(raw, '\s+', ' ', 'g')), '')
            WHEN 'postcode' THEN nullif(upper(regexp_replace(raw, '\s+', ' ', 'g')), '')
            WHEN 'date' THEN strftime(coalesce(
                try_strptime(trim(raw), '%Y-%m-%d'), try_strptime(trim(raw), '%Y%m%d'), try_strptime(trim(raw), '%Y/%m/%d'),
                try_strptime(trim(raw), '%d.%m.%Y'), try_strptime(trim(raw), '%d %b %Y'), try_strptime(trim(raw), '%b %d, %Y'),
                try_strptime(trim(raw), '%d %B %Y'), try_strptime(trim(raw), '%B %d, %Y')), '%Y-%m-%d')
        END AS value
    FROM cl_src_vals
);

-- Fellegi–Sunter, step 1: normalize the resolver's input.
-- Input: fs_input(id BIGINT, src INTEGER, one VARCHAR column per attribute,
-- NULL when unmapped). Output: fs_records with normalized attributes and the
-- term frequency of the values whose exact match is adjusted by frequency.
-- Parameters: none.
CREATE OR REPLACE TEMP TABLE fs_norm AS
WITH t AS (
    SELECT
        id, src,
        NULLIF(trim(first_name), '') AS first_name, NULLIF(trim(last_name), '') AS last_name,
        NULLIF(trim(full_name), '') AS full_name, NULLIF(trim(dob), '') AS dob,
        NULLIF(trim(email), '') AS email, NULLIF(trim(phone), '') AS phone,
        NULLIF(trim(street), '') AS street, NULLIF(trim(street_number), '') AS street_number,
        NULLIF(trim(city), '') AS city, NULLIF(trim(postcode), '') AS postcode,
        NULLIF(trim(state), '') AS state, NULLIF(trim(country), '') AS country,
        NULLIF(trim(national_id), '') AS national_id, NULLIF(trim(gender), '') AS gender,
        NULLIF(trim(occupation), '') AS occupation, NULLIF(trim(birth_place), '') AS birth_place
    FROM fs_input
), d AS (
    SELECT *,
        coalesce(
            try_strptime(dob, '%Y-%m-%d'), try_strptime(dob, '%Y%m%d'), try_strptime(dob, '%Y/%m/%d'),
            try_strptime(dob, '%d/%m/%Y'), try_strptime(dob, '%d.%m.%Y'), try_strptime(dob, '%m/%d/%Y'),
            try_strptime(dob, '%d %b %Y'), try_strptime(dob, '%b %d, %Y'), try_strptime(dob, '%d %B %Y'),
            try_strptime(dob, '%B %d, %Y')
        )::DATE AS dob_date
    FROM t
)
SELECT
    id, src,
    fold_name(first_name) AS first_name,
    fold_name(last_name) AS last_name,
    fold_name(full_name) AS full_name,
    CASE WHEN dob_date IS NOT NULL THEN strftime(dob_date, '%Y%m%d')
         ELSE NULLIF(regexp_replace(dob, '[^0-9]', '', 'g'), '') END AS dob,
    dob_date,
    normalize_email(email) AS email,
    coalesce(normalize_phone(phone), NULLIF(regexp_replace(phone, '[^0-9]', '', 'g'), '')) AS phone,
    fold_name(street) AS street,
    NULLIF(lower(regexp_replace(street_number, '[^0-9A-Za-z]', '', 'g')), '') AS street_number,
    fold_name(city) AS city,
    NULLIF(lower(regexp_replace(postcode, '[^0-9A-Za-z]', '', 'g')), '') AS postcode,
    fold_name(state) AS state,
    fold_name(country) AS country,
    NULLIF(lower(regexp_replace(national_id, '[^0-9A-Za-z]', '', 'g')), '') AS national_id,
    CASE lower(left(gender, 1)) WHEN 'm' THEN 'm' WHEN 'f' THEN 'f' ELSE fold_name(gender) END AS gender,
    fold_name(occupation) AS occupation,
    fold_name(birth_place) AS birth_place
FROM d;

CREATE OR REPLACE TEMP TABLE fs_records AS
SELECT n.*,
    split_part(n.email, '@', 1) AS email_user,
    list_distinct(list_filter([n.first_name, n.last_name], x -> x IS NOT NULL)) AS names,
    array_to_string(list_sort(string_split(n.full_name, ' ')), ' ') AS full_tokens,
    count(*) OVER (PARTITION BY first_name) / (SELECT count(first_name) FROM fs_norm) AS tf_first_name,
    count(*) OVER (PARTITION BY last_name) / (SELECT count(last_name) FROM fs_norm) AS tf_last_name,
    count(*) OVER (PARTITION BY full_name) / (SELECT count(full_name) FROM fs_norm) AS tf_full_name,
    count(*) OVER (PARTITION BY dob) / (SELECT count(dob) FROM fs_norm) AS tf_dob,
    count(*) OVER (PARTITION BY city) / (SELECT count(city) FROM fs_norm) AS tf_city,
    count(*) OVER (PARTITION BY postcode) / (SELECT count(postcode) FROM fs_norm) AS tf_postcode,
    count(*) OVER (PARTITION BY birth_place) / (SELECT count(birth_place) FROM fs_norm) AS tf_birth_place,
    count(*) OVER (PARTITION BY occupation) / (SELECT count(occupation) FROM fs_norm) AS tf_occupation
FROM fs_norm n;

DROP TABLE fs_norm;

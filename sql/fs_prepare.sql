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

-- Term frequencies by aggregation and hash join (a window per column sorts
-- the whole table eight times).
CREATE OR REPLACE TEMP TABLE fs_records AS
SELECT n.*,
    split_part(n.email, '@', 1) AS email_user,
    list_distinct(list_filter([n.first_name, n.last_name], x -> x IS NOT NULL)) AS names,
    -- Pieces compared per pair, cut once per record instead.
    left(n.phone, 7) AS phone_head, right(n.phone, 5) AS phone_tail, left(n.postcode, 3) AS postcode3,
    strftime(n.dob_date, '%Y%d%m') AS dob_swapped,
    array_to_string(list_sort(string_split(n.full_name, ' ')), ' ') AS full_tokens,
    t_first_name.tf AS tf_first_name,
    t_last_name.tf AS tf_last_name,
    t_full_name.tf AS tf_full_name,
    t_dob.tf AS tf_dob,
    t_city.tf AS tf_city,
    t_postcode.tf AS tf_postcode,
    t_birth_place.tf AS tf_birth_place,
    t_occupation.tf AS tf_occupation
FROM fs_norm n
LEFT JOIN (SELECT first_name AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE first_name IS NOT NULL GROUP BY 1) t_first_name ON t_first_name.v = n.first_name
LEFT JOIN (SELECT last_name AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE last_name IS NOT NULL GROUP BY 1) t_last_name ON t_last_name.v = n.last_name
LEFT JOIN (SELECT full_name AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE full_name IS NOT NULL GROUP BY 1) t_full_name ON t_full_name.v = n.full_name
LEFT JOIN (SELECT dob AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE dob IS NOT NULL GROUP BY 1) t_dob ON t_dob.v = n.dob
LEFT JOIN (SELECT city AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE city IS NOT NULL GROUP BY 1) t_city ON t_city.v = n.city
LEFT JOIN (SELECT postcode AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE postcode IS NOT NULL GROUP BY 1) t_postcode ON t_postcode.v = n.postcode
LEFT JOIN (SELECT birth_place AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE birth_place IS NOT NULL GROUP BY 1) t_birth_place ON t_birth_place.v = n.birth_place
LEFT JOIN (SELECT occupation AS v, count(*) / sum(count(*)) OVER () AS tf FROM fs_norm WHERE occupation IS NOT NULL GROUP BY 1) t_occupation ON t_occupation.v = n.occupation;

DROP TABLE fs_norm;

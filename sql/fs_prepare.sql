-- Fellegi–Sunter, step 1: normalize the resolver's input.
-- Input: fs_input(id BIGINT, src INTEGER, one VARCHAR column per attribute,
-- NULL when unmapped). Output: fs_records with normalized attributes and the
-- term frequency of the values whose exact match is adjusted by frequency.
-- Parameters: $workspace, of the records: its region reads phone numbers
-- without a country code.
CREATE OR REPLACE TEMP TABLE fs_trim AS
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
FROM fs_input;

-- Names, places and dates repeat: fold and parse each distinct value once
-- (the Go UDF and ten date formats per value are the costly part).
CREATE OR REPLACE TEMP TABLE fs_dict_name AS
SELECT v, fold_name(v) AS f FROM (
    SELECT first_name AS v FROM fs_trim UNION SELECT last_name FROM fs_trim UNION SELECT full_name FROM fs_trim
    UNION SELECT street FROM fs_trim UNION SELECT city FROM fs_trim UNION SELECT state FROM fs_trim
    UNION SELECT country FROM fs_trim UNION SELECT occupation FROM fs_trim UNION SELECT birth_place FROM fs_trim
) WHERE v IS NOT NULL;

CREATE OR REPLACE TEMP TABLE fs_dict_dob AS
SELECT v, d, CASE WHEN d IS NOT NULL THEN strftime(d, '%Y%m%d') ELSE NULLIF(regexp_replace(v, '[^0-9]', '', 'g'), '') END AS s
FROM (
    SELECT v, coalesce(
            try_strptime(v, '%Y-%m-%d'), try_cast(v AS TIMESTAMP), -- ISO dates with a time (typed DATE/TIMESTAMP columns cast to text)
            try_strptime(v, '%Y%m%d'), try_strptime(v, '%Y/%m/%d'),
            try_strptime(v, '%d/%m/%Y'), try_strptime(v, '%d.%m.%Y'), try_strptime(v, '%m/%d/%Y'),
            try_strptime(v, '%d %b %Y'), try_strptime(v, '%b %d, %Y'), try_strptime(v, '%d %B %Y'),
            try_strptime(v, '%B %d, %Y')
        )::DATE AS d
    FROM (SELECT DISTINCT dob AS v FROM fs_trim WHERE dob IS NOT NULL)
);

CREATE OR REPLACE TEMP TABLE fs_norm AS
SELECT
    t.id, t.src,
    n1.f AS first_name,
    n2.f AS last_name,
    n3.f AS full_name,
    dd.s AS dob,
    dd.d AS dob_date,
    normalize_email(t.email) AS email,
    coalesce(normalize_phone($workspace, t.phone), NULLIF(regexp_replace(t.phone, '[^0-9]', '', 'g'), '')) AS phone,
    n4.f AS street,
    NULLIF(lower(regexp_replace(t.street_number, '[^0-9A-Za-z]', '', 'g')), '') AS street_number,
    n5.f AS city,
    NULLIF(lower(regexp_replace(t.postcode, '[^0-9A-Za-z]', '', 'g')), '') AS postcode,
    n6.f AS state,
    n7.f AS country,
    NULLIF(lower(regexp_replace(t.national_id, '[^0-9A-Za-z]', '', 'g')), '') AS national_id,
    CASE lower(left(t.gender, 1)) WHEN 'm' THEN 'm' WHEN 'f' THEN 'f' ELSE fold_name(t.gender) END AS gender,
    n8.f AS occupation,
    n9.f AS birth_place
FROM fs_trim t
LEFT JOIN fs_dict_name n1 ON n1.v = t.first_name
LEFT JOIN fs_dict_name n2 ON n2.v = t.last_name
LEFT JOIN fs_dict_name n3 ON n3.v = t.full_name
LEFT JOIN fs_dict_name n4 ON n4.v = t.street
LEFT JOIN fs_dict_name n5 ON n5.v = t.city
LEFT JOIN fs_dict_name n6 ON n6.v = t.state
LEFT JOIN fs_dict_name n7 ON n7.v = t.country
LEFT JOIN fs_dict_name n8 ON n8.v = t.occupation
LEFT JOIN fs_dict_name n9 ON n9.v = t.birth_place
LEFT JOIN fs_dict_dob dd ON dd.v = t.dob;

DROP TABLE fs_trim;

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

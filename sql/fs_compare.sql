-- Fellegi–Sunter, step 3: the comparison vector of every candidate pair.
-- Input: the view fs_candidates(l, r, mask) and fs_records.
-- Output: fs_compared(l, r, mask, key, tf) where key packs one level per
-- comparison, 3 bits each, in the order of identity/match.Comparisons
-- (level + 1, so 0 means "null on either side"), and tf is the sum of
-- log2(term frequency) over the exact matches of frequency-adjusted columns.
-- Edit distances are the costliest part: Damerau–Levenshtein (which counts
-- a transposition as one edit) is asked only whether it is within one or
-- two edits (damerau_levenshtein_within, a Go function: DuckDB's
-- damerau_levenshtein took 16 µs for two e-mail addresses, half of this
-- statement), only where Levenshtein says two edits, an e-mail's
-- Jaro–Winkler is high, or phones share their prefix or suffix.
-- Parameters: $jw_hi, $jw_mid, $jw_lo (Jaro–Winkler thresholds), $tf_min.
CREATE OR REPLACE TEMP TABLE fs_compared AS
WITH s AS (
    -- Each similarity once per pair, and only where the values differ.
    SELECT c.l, c.r, c.mask,
        a.first_name AS a_fn, b.first_name AS b_fn, a.last_name AS a_ln, b.last_name AS b_ln,
        CASE WHEN a.first_name <> b.first_name THEN jaro_winkler_similarity(a.first_name, b.first_name) END AS jw_fn,
        CASE WHEN a.last_name <> b.last_name THEN jaro_winkler_similarity(a.last_name, b.last_name) END AS jw_ln,
        a.full_name IS NULL OR b.full_name IS NULL AS nul_full, a.full_name = b.full_name AS eq_full,
        a.full_tokens = b.full_tokens AS eq_tokens,
        CASE WHEN a.full_name <> b.full_name THEN jaro_winkler_similarity(a.full_name, b.full_name) END AS jw_full,
        a.dob IS NULL OR b.dob IS NULL AS nul_dob, a.dob = b.dob AS eq_dob,
        CASE WHEN a.dob <> b.dob THEN levenshtein(a.dob, b.dob) END AS lev_dob,
        a.dob_swapped = b.dob AS swap_dob,
        abs(date_diff('day', a.dob_date, b.dob_date)) AS days_dob,
        a.email IS NULL OR b.email IS NULL AS nul_email, a.email = b.email AS eq_email,
        a.email_user = b.email_user AS eq_email_user,
        CASE WHEN a.email <> b.email THEN jaro_winkler_similarity(a.email, b.email) END AS jw_email,
        a.email AS a_email, b.email AS b_email,
        a.phone IS NULL OR b.phone IS NULL AS nul_phone, a.phone = b.phone AS eq_phone,
        -- One mistyped or transposed digit; neighbours in one exchange
        -- share long prefixes, so a shared head alone is no evidence.
        -- (A CASE, not AND: a projection computes both sides of an AND for
        -- every row; g5 reads near_phone only when both phones are there.)
        CASE WHEN a.phone_head = b.phone_head OR a.phone_tail = b.phone_tail
             THEN damerau_levenshtein_within(a.phone, b.phone, 1) ELSE false END AS near_phone,
        a.street IS NULL OR b.street IS NULL AS nul_street, a.street = b.street AS eq_street,
        CASE WHEN a.street <> b.street THEN jaro_winkler_similarity(a.street, b.street) END AS jw_street,
        a.street_number IS NULL OR b.street_number IS NULL AS nul_stno, a.street_number = b.street_number AS eq_stno,
        CASE WHEN a.street_number <> b.street_number THEN CASE WHEN levenshtein(a.street_number, b.street_number) <= 1 THEN levenshtein(a.street_number, b.street_number) WHEN levenshtein(a.street_number, b.street_number) = 2 THEN CASE WHEN damerau_levenshtein_within(a.street_number, b.street_number, 1) THEN 1 ELSE 2 END ELSE 3 END END AS dl_stno,
        a.city IS NULL OR b.city IS NULL AS nul_city, a.city = b.city AS eq_city,
        CASE WHEN a.city <> b.city THEN jaro_winkler_similarity(a.city, b.city) END AS jw_city,
        a.postcode IS NULL OR b.postcode IS NULL AS nul_pc, a.postcode = b.postcode AS eq_pc,
        CASE WHEN a.postcode <> b.postcode THEN CASE WHEN levenshtein(a.postcode, b.postcode) <= 1 THEN levenshtein(a.postcode, b.postcode) WHEN levenshtein(a.postcode, b.postcode) = 2 THEN CASE WHEN damerau_levenshtein_within(a.postcode, b.postcode, 1) THEN 1 ELSE 2 END ELSE 3 END END AS dl_pc,
        a.postcode3 = b.postcode3 AS eq_pc3,
        a.state IS NULL OR b.state IS NULL AS nul_state, a.state = b.state AS eq_state,
        a.country IS NULL OR b.country IS NULL AS nul_country, a.country = b.country AS eq_country,
        a.national_id IS NULL OR b.national_id IS NULL AS nul_nid, a.national_id = b.national_id AS eq_nid,
        CASE WHEN a.national_id <> b.national_id THEN CASE WHEN levenshtein(a.national_id, b.national_id) <= 1 THEN levenshtein(a.national_id, b.national_id) WHEN levenshtein(a.national_id, b.national_id) = 2 THEN CASE WHEN damerau_levenshtein_within(a.national_id, b.national_id, 1) THEN 1 ELSE 2 END ELSE 3 END END AS dl_nid,
        a.gender IS NULL OR b.gender IS NULL AS nul_gender, a.gender = b.gender AS eq_gender,
        a.occupation IS NULL OR b.occupation IS NULL AS nul_occ, a.occupation = b.occupation AS eq_occ,
        CASE WHEN a.occupation <> b.occupation THEN jaro_winkler_similarity(a.occupation, b.occupation) END AS jw_occ,
        a.birth_place IS NULL OR b.birth_place IS NULL AS nul_bp, a.birth_place = b.birth_place AS eq_bp,
        CASE WHEN a.birth_place <> b.birth_place THEN jaro_winkler_similarity(a.birth_place, b.birth_place) END AS jw_bp,
        a.tf_first_name, a.tf_last_name, a.tf_full_name, a.tf_dob, a.tf_city, a.tf_postcode,
        a.tf_birth_place, a.tf_occupation
    FROM fs_candidates c
    JOIN fs_records a ON a.id = c.l
    JOIN fs_records b ON b.id = c.r
), g AS (
    SELECT l, r, mask,
        -- 0 first_name: exact, JW hi, swapped with last name, JW mid, JW lo
        CASE WHEN a_fn IS NULL OR b_fn IS NULL THEN -1
             WHEN a_fn = b_fn THEN 5
             WHEN jw_fn >= $jw_hi THEN 4
             WHEN a_fn = b_ln OR a_ln = b_fn THEN 3
             WHEN jw_fn >= $jw_mid THEN 2
             WHEN jw_fn >= $jw_lo THEN 1
             ELSE 0 END AS g0,
        -- 1 last_name: the same levels
        CASE WHEN a_ln IS NULL OR b_ln IS NULL THEN -1
             WHEN a_ln = b_ln THEN 5
             WHEN jw_ln >= $jw_hi THEN 4
             WHEN a_fn = b_ln OR a_ln = b_fn THEN 3
             WHEN jw_ln >= $jw_mid THEN 2
             WHEN jw_ln >= $jw_lo THEN 1
             ELSE 0 END AS g1,
        -- 2 full_name: exact, same tokens in another order, JW hi, JW mid
        CASE WHEN nul_full THEN -1 WHEN eq_full THEN 4 WHEN eq_tokens THEN 3
             WHEN jw_full >= $jw_hi THEN 2 WHEN jw_full >= $jw_mid THEN 1 ELSE 0 END AS g2,
        -- 3 dob (YYYYMMDD): exact; one edit; two edits or day and month
        -- transposed; within a year
        CASE WHEN nul_dob THEN -1 WHEN eq_dob THEN 4
             WHEN lev_dob <= 1 THEN 3
             WHEN lev_dob = 2 OR swap_dob THEN 2
             WHEN days_dob <= 366 THEN 1 ELSE 0 END AS g3,
        -- 4 email: exact, same local part, JW hi within two edits (a typo,
        -- not a namesake's other address). Addresses that differ only in
        -- their digits are namesakes' too: a number is how a taken name
        -- is made free (jose.martinez84, jose.martinez85).
        -- (the edit distance in a CASE of its own, not in an AND: a
        -- projection computes both sides of an AND for every row)
        CASE WHEN nul_email THEN -1 WHEN eq_email THEN 3 WHEN eq_email_user THEN 2
             WHEN jw_email >= $jw_hi THEN CASE
                 WHEN regexp_replace(a_email, '[0-9]', '', 'g') = regexp_replace(b_email, '[0-9]', '', 'g') THEN 0
                 WHEN damerau_levenshtein_within(a_email, b_email, 2) THEN 1 ELSE 0 END
             ELSE 0 END AS g4,
        -- 5 phone: exact, same prefix or suffix (one digit off)
        CASE WHEN nul_phone THEN -1 WHEN eq_phone THEN 2 WHEN near_phone THEN 1 ELSE 0 END AS g5,
        -- 6 street: exact, JW hi, JW lo
        CASE WHEN nul_street THEN -1 WHEN eq_street THEN 3 WHEN jw_street >= $jw_hi THEN 2
             WHEN jw_street >= $jw_lo THEN 1 ELSE 0 END AS g6,
        -- 7 street_number: exact, one edit
        CASE WHEN nul_stno THEN -1 WHEN eq_stno THEN 2 WHEN dl_stno <= 1 THEN 1 ELSE 0 END AS g7,
        -- 8 city: exact, JW hi, JW mid; no evidence of its own when the
        -- street or the postcode already agrees (they imply the city)
        CASE WHEN nul_city OR eq_street OR eq_pc THEN -1 WHEN eq_city THEN 3 WHEN jw_city >= $jw_hi THEN 2
             WHEN jw_city >= $jw_mid THEN 1 ELSE 0 END AS g8,
        -- 9 postcode: exact, one edit, same 3-character district; no
        -- evidence of its own when the street agrees (it implies the postcode)
        CASE WHEN nul_pc OR eq_street THEN -1 WHEN eq_pc THEN 3 WHEN dl_pc <= 1 THEN 2 WHEN eq_pc3 THEN 1 ELSE 0 END AS g9,
        -- 10 state, 11 country
        CASE WHEN nul_state THEN -1 WHEN eq_state THEN 1 ELSE 0 END AS g10,
        CASE WHEN nul_country THEN -1 WHEN eq_country THEN 1 ELSE 0 END AS g11,
        -- 12 national_id: exact, one edit, two edits
        CASE WHEN nul_nid THEN -1 WHEN eq_nid THEN 3 WHEN dl_nid <= 1 THEN 2 WHEN dl_nid <= 2 THEN 1 ELSE 0 END AS g12,
        -- 13 gender
        CASE WHEN nul_gender THEN -1 WHEN eq_gender THEN 1 ELSE 0 END AS g13,
        -- 14 occupation: exact, JW hi
        CASE WHEN nul_occ THEN -1 WHEN eq_occ THEN 2 WHEN jw_occ >= $jw_hi THEN 1 ELSE 0 END AS g14,
        -- 15 birth_place: exact, JW hi, JW mid
        CASE WHEN nul_bp THEN -1 WHEN eq_bp THEN 3 WHEN jw_bp >= $jw_hi THEN 2
             WHEN jw_bp >= $jw_mid THEN 1 ELSE 0 END AS g15,
        tf_first_name, tf_last_name, tf_full_name, tf_dob, tf_city, tf_postcode, tf_birth_place, tf_occupation
    FROM s
)
SELECT l, r, mask,
    ((g0 + 1)::BIGINT + (g1 + 1)::BIGINT * 8 + (g2 + 1)::BIGINT * 64 + (g3 + 1)::BIGINT * 512 + (g4 + 1)::BIGINT * 4096 + (g5 + 1)::BIGINT * 32768
     + (g6 + 1)::BIGINT * 262144 + (g7 + 1)::BIGINT * 2097152 + (g8 + 1)::BIGINT * 16777216 + (g9 + 1)::BIGINT * 134217728
     + (g10 + 1)::BIGINT * 1073741824 + (g11 + 1)::BIGINT * 8589934592 + (g12 + 1)::BIGINT * 68719476736
     + (g13 + 1)::BIGINT * 549755813888 + (g14 + 1)::BIGINT * 4398046511104 + (g15 + 1)::BIGINT * 35184372088832)::BIGINT AS key,
    (CASE WHEN g0 = 5 THEN log2(greatest(tf_first_name, $tf_min)) ELSE 0 END
     + CASE WHEN g1 = 5 THEN log2(greatest(tf_last_name, $tf_min)) ELSE 0 END
     + CASE WHEN g2 = 4 THEN log2(greatest(tf_full_name, $tf_min)) ELSE 0 END
     + CASE WHEN g3 = 4 THEN log2(greatest(tf_dob, $tf_min)) ELSE 0 END
     + CASE WHEN g8 = 3 THEN log2(greatest(tf_city, $tf_min)) ELSE 0 END
     + CASE WHEN g9 = 3 THEN log2(greatest(tf_postcode, $tf_min)) ELSE 0 END
     + CASE WHEN g14 = 2 THEN log2(greatest(tf_occupation, $tf_min)) ELSE 0 END
     + CASE WHEN g15 = 3 THEN log2(greatest(tf_birth_place, $tf_min)) ELSE 0 END)::FLOAT AS tf
FROM g;

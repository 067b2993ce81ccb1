-- BASELINE (not leadsync): phone normalization in plain SQL.
--
-- The expression the issue names, right(regexp_replace(p, '\D', '', 'g'), 10), is what
-- the timed query of the normalize_phone benchmark runs inline (see run.sh). This
-- function adds the one rule a real caller needs on top of it, "NULL when fewer than
-- 10 digits", and is what the PL/pgSQL ingest baseline uses: an author without the C
-- extension would normalize exactly like this. LANGUAGE sql + IMMUTABLE, so the
-- planner inlines it into the calling expression (no function-call overhead).
-- It keeps ASCII digits only when the regex engine's \D does (the C version maps every
-- Unicode decimal digit to 0-9; the benchmark's phones are ASCII, as the platforms send).

CREATE FUNCTION leadsync_baseline.normalize_phone_sql(phone text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN substring(regexp_replace(phone, '\D', '', 'g') FROM '\d{10}$');

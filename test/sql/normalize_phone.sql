\ir lib/setup.sql
SELECT plan(18);

SELECT is(normalize_phone('+91-98765 43210'), '9876543210', 'a formatted Indian number keeps its last ten digits');
SELECT is(normalize_phone('p:+919876543210'), '9876543210', 'a Meta "p:" prefix is ignored');
SELECT is(normalize_phone('09876543210'), '9876543210', 'a trunk zero is dropped');
SELECT is(normalize_phone('919876543210'), '9876543210', 'a country code without plus is dropped');
SELECT is(normalize_phone('९८७६५४३२१०'), '9876543210', 'Devanagari digits are read as digits');
SELECT is(normalize_phone('＋９１ ９８７６５ ４３２１０'), '9876543210', 'full-width digits are read as digits');
SELECT is(normalize_phone('٩٨٧٦٥٤٣٢١٠'), '9876543210', 'Arabic-Indic digits are read as digits');
SELECT is(normalize_phone('98765४३२१०'), '9876543210', 'mixed scripts in one number');
SELECT is(normalize_phone('987654321'), NULL, 'nine digits are too few');
SELECT is(normalize_phone(''), NULL, 'an empty string has no phone');
SELECT is(normalize_phone(NULL), NULL, 'NULL in, NULL out');
SELECT is(normalize_phone('😀📞 ☎' || chr(1) || chr(27)), NULL, 'emoji and control characters are not digits');
SELECT is(normalize_phone('📞98765😀43210'), '9876543210', 'digits between emoji still count');
SELECT is(normalize_phone('²³¹' || '98765432'), NULL, 'superscript digits are not decimal digits');
SELECT is(normalize_phone(repeat('1', 1000000) || '9876543210'), '9876543210', 'a 1 MB string keeps its last ten digits');

SELECT is((SELECT (provolatile, proisstrict, proparallel)::text FROM pg_proc
            WHERE oid = 'normalize_phone(text)'::regprocedure),
          '(i,t,s)', 'normalize_phone is IMMUTABLE, STRICT and PARALLEL SAFE');
SELECT is((SELECT count(*) FROM (VALUES ('+91 98765 43210'), ('0091-9876543210'), ('(987) 654-3210'))
             v(p) WHERE normalize_phone(p) = '9876543210'), 3::bigint,
          'normalize_phone works in a WHERE clause over many rows');

SELECT is_empty('SELECT * FROM pg_temp.counter_mismatches()',
                'every source''s total equals its history rows, and today''s count its rows of today');

SELECT * FROM finish();
ROLLBACK;

-- history_raw.vals becomes bytea: a scrape's values as big-endian float64 back to back (the bytes of
-- float8send), written by the collector as one buffer instead of an array it encodes value by value. See
-- collector/storage/raw_codec.py. Rows already stored are converted in place.

CREATE FUNCTION pg_temp.float8_array_bytes(vals float8[]) RETURNS bytea
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(string_agg(float8send(v), ''::bytea ORDER BY i), ''::bytea)
    FROM unnest(vals) WITH ORDINALITY AS u(v, i)
$$;

ALTER TABLE history_raw ALTER COLUMN vals TYPE bytea USING pg_temp.float8_array_bytes(vals);

-- The new column keeps lz4, where the server was built with it.
DO $$
BEGIN
    ALTER TABLE history_raw ALTER COLUMN vals SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;

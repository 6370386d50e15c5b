-- name: SchemaColumns
-- Every column of every collection in schema $1, one row per column in
-- column order (a table without columns yields one row with NULL column
-- fields), in one round trip. Collections are base and partitioned tables
-- that are not hookd's (hookd_*), River's (river_*) or goose's own, and not
-- partitions (the partitioned parent is the collection). Domains are mapped
-- through their base type; pk_columns lists the primary key's columns in key
-- order (empty when there is none).
SELECT c.relname::text                                   AS table_name,
       a.attname::text                                   AS column_name,
       format_type(a.atttypid, a.atttypmod)              AS db_type,
       bt.typname::text                                  AS base_type,
       coalesce(bt.typcategory = 'A', false)             AS is_array,
       NOT coalesce(a.attnotnull, false)                 AS nullable,
       pg_get_expr(d.adbin, d.adrelid)                   AS default_expr,
       coalesce(a.attidentity <> '', false)              AS is_identity,
       coalesce(a.attgenerated <> '', false)             AS is_generated,
       CASE WHEN bt.typname IN ('varchar', 'bpchar') THEN
            nullif(greatest(CASE WHEN a.atttypmod > 0 THEN a.atttypmod ELSE t.typtypmod END - 4, -1), -1)
       END                                               AS max_length,
       coalesce(pk.cols, '{}')::text[]                   AS pk_columns
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
LEFT JOIN pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_type bt ON bt.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype ELSE t.oid END
LEFT JOIN pg_attrdef d ON d.adrelid = c.oid AND d.adnum = a.attnum
LEFT JOIN LATERAL (
    SELECT array_agg(ka.attname::text ORDER BY k.ord) AS cols
    FROM pg_constraint con
    CROSS JOIN LATERAL unnest(con.conkey) WITH ORDINALITY AS k(attnum, ord)
    JOIN pg_attribute ka ON ka.attrelid = con.conrelid AND ka.attnum = k.attnum
    WHERE con.conrelid = c.oid AND con.contype = 'p'
) pk ON true
WHERE n.nspname = $1
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND c.relname NOT LIKE 'hookd\_%'
  AND c.relname NOT LIKE 'river\_%'
  AND c.relname <> 'goose_db_version'
ORDER BY c.relname, a.attnum;

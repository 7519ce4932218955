-- What the dimensions were last rewritten from: the schema files' fingerprint and the settings
-- that shape periods and deadlines. One row, rewritten by every sync; a load whose schema and
-- settings match it skips rewriting dimensions whose cost follows the registry's size.
create table meta.schema_sync (
    basis varchar not null,
    synced_at timestamptz not null
);

-- What the dimensions were last rewritten from (none before the first sync).
select basis from meta.schema_sync

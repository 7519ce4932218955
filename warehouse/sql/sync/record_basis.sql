-- The dimensions now follow $basis (the sync cleared the previous row with them).
insert into meta.schema_sync values ($basis, $synced_at)

with source as (
    select * from raw.received_files
),

final as (
    select
        received_file_id,
        sha256,
        size as size_bytes,
        name as file_name,
        url,
        received_at,
        archived_path,
        run_id as received_run_id
    from source
)

select * from final

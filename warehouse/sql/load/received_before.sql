-- Listed files registered before from the same URL, with the same size and modification
-- time: received already, their bytes need no second copy or hash.
with
listed as (
    select
        unnest($urls::varchar[]) as url,
        unnest($sizes::bigint[]) as size,
        unnest($times::timestamptz[]) as received_at
),

matched as (
    select
        listed.url,
        received_files.sha256,
        received_files.archived_path,
        row_number() over (
            partition by listed.url order by received_files.received_file_id desc
        ) as rank
    from listed
    inner join raw.received_files as received_files
        on listed.url = received_files.url
        and listed.size = received_files.size
        and listed.received_at = received_files.received_at
),

final as (
    select url, sha256, archived_path
    from matched
    where rank = 1
)

select * from final

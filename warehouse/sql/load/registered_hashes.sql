-- Which of these hashes the warehouse has received already (a join, not the whole history).
with
hashes as (
    select distinct unnest($hashes::varchar[]) as sha256
),

final as (
    select hashes.sha256
    from hashes
    semi join raw.received_files as received_files on hashes.sha256 = received_files.sha256
)

select * from final

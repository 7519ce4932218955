-- Per hash of the batch already in the warehouse: the first submission loaded with those
-- bytes (later copies are its duplicates).
with
hashes as (
    select distinct unnest($hashes::varchar[]) as sha256
),

received as (
    select received_files.received_file_id, received_files.sha256
    from raw.received_files as received_files
    semi join hashes on received_files.sha256 = hashes.sha256
),

firsts as (
    select
        received.sha256,
        submissions.submission_id,
        submissions.unit_code,
        submissions.period_code,
        row_number() over (
            partition by received.sha256 order by submissions.submission_id
        ) as rank
    from received
    inner join raw.submissions as submissions
        on received.received_file_id = submissions.received_file_id
    where submissions.verdict <> 'duplicate'
),

final as (
    select sha256, submission_id, unit_code, period_code
    from firsts
    where rank = 1
)

select * from final

-- Every received file with its version and whether it is current. Versions count the files
-- (not duplicates) loaded for one unit and period, in load order; the latest accepted one is
-- current and every earlier accepted one is superseded by the next.
with submissions as (
    select * from staging.stg_submissions
),

received as (
    select * from staging.stg_received_files
),

periods as (
    select * from core.periods
),

versions as (
    select
        submission_id,
        row_number() over (
            partition by unit_code, period_code order by submission_id
        ) as version
    from submissions
    where verdict <> 'duplicate' and unit_code is not null and period_code is not null
),

accepted as (
    select
        submission_id,
        lead(submission_id) over (
            partition by unit_code, period_code order by submission_id
        ) as superseded_by
    from submissions
    where is_accepted and unit_code is not null and period_code is not null
),

final as (
    select
        submissions.submission_id,
        submissions.run_id,
        submissions.received_file_id,
        received.file_name,
        received.url,
        received.sha256,
        received.size_bytes,
        received.archived_path,
        received.received_at,
        submissions.loaded_at,
        submissions.unit_code,
        submissions.period_code,
        periods.year,
        versions.version,
        submissions.verdict,
        submissions.is_accepted,
        accepted.superseded_by,
        coalesce(submissions.is_accepted and accepted.superseded_by is null, false)
            as is_current,
        case
            when submissions.verdict = 'duplicate' then 'duplicate'
            when submissions.verdict = 'rejected' then 'rejected'
            when accepted.superseded_by is not null then 'superseded'
            else 'accepted'
        end as status,
        submissions.duplicate_of,
        submissions.template_version,
        submissions.error_count,
        submissions.warning_count,
        submissions.value_count,
        submissions.progress_count,
        periods.deadline,
        received.received_at < periods.deadline_at as received_on_time
    from submissions
    inner join received on submissions.received_file_id = received.received_file_id
    left join versions on submissions.submission_id = versions.submission_id
    left join accepted on submissions.submission_id = accepted.submission_id
    left join periods on submissions.period_code = periods.period_code
)

select * from final

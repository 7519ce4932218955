-- Every progress row of every loaded version; `is_current` marks the latest accepted one.
with progress as (
    select * from staging.stg_progress
),

submissions as (
    select * from core.submissions
),

final as (
    select
        submissions.unit_code,
        submissions.period_code,
        submissions.year,
        progress.task_code,
        progress.status,
        progress.status_code,
        progress.results,
        progress.difficulties,
        progress.proposals,
        progress.evidence,
        progress.submission_id,
        submissions.version,
        submissions.is_current,
        submissions.received_at
    from progress
    inner join submissions on progress.submission_id = submissions.submission_id
)

select * from final

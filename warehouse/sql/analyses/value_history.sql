-- The accepted values as they stood after the last load run that finished, one row per value,
-- for the validator's outlier checks. Files loaded by a run that was interrupted after it are
-- left out: a rerun then judges the rest of those files against the same history a single
-- uninterrupted run would have used. With `$units`, only those units' values (the units of the
-- batch being judged), so the cost follows the batch, not the warehouse.
with runs as (
    select * from meta.load_runs
),

submissions as (
    select * from staging.stg_submissions
),

data_values as (
    select * from staging.stg_data_values
),

last_finished as (
    select coalesce(max(run_id), 0) as run_id
    from runs
    where status = 'finished'
),

seen as (
    select submissions.*
    from submissions
    inner join last_finished on submissions.run_id <= last_finished.run_id
    where
        submissions.is_accepted
        and submissions.unit_code is not null
        and submissions.period_code is not null
        and (
            $units::varchar[] is null
            or submissions.unit_code in (select unnest($units::varchar[]))
        )
),

ranked as (
    select
        submission_id,
        unit_code,
        period_code,
        row_number() over (
            partition by unit_code, period_code order by submission_id desc
        ) as recency
    from seen
),

final as (
    select
        ranked.unit_code,
        data_values.element_code,
        ranked.period_code as period,
        data_values.value
    from ranked
    inner join data_values on ranked.submission_id = data_values.submission_id
    where ranked.recency = 1 and data_values.element_code is not null
)

select * from final
order by unit_code, element_code, period

-- The current values as they stood right after load run $run_id: the latest accepted version
-- per unit and period among the submissions loaded by then.
with submissions as (
    select * from staging.stg_submissions
    where run_id <= $run_id and is_accepted and unit_code is not null and period_code is not null
),

data_values as (
    select * from staging.stg_data_values
),

versions as (
    select * from core.submissions
),

ranked as (
    select
        submission_id,
        row_number() over (
            partition by unit_code, period_code order by submission_id desc
        ) as recency
    from submissions
),

final as (
    select
        versions.unit_code,
        versions.period_code as period,
        data_values.task_code,
        data_values.element_code,
        data_values.value,
        data_values.submission_id,
        versions.version
    from ranked
    inner join data_values on ranked.submission_id = data_values.submission_id
    inner join versions on ranked.submission_id = versions.submission_id
    where ranked.recency = 1
)

select * from final
order by unit_code, period, element_code, submission_id

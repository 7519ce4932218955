-- Every value of every loaded version; `is_current` marks the figures that count now.
with data_values as (
    select * from staging.stg_data_values
),

submissions as (
    select * from core.submissions
),

final as (
    select
        submissions.unit_code,
        submissions.period_code,
        submissions.year,
        data_values.task_code,
        data_values.element_code,
        data_values.value,
        data_values.note,
        data_values.submission_id,
        submissions.run_id,
        submissions.version,
        submissions.is_current,
        submissions.received_at
    from data_values
    inner join submissions on data_values.submission_id = submissions.submission_id
)

select * from final

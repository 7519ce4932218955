-- Units by status per task and started quarter.
with task_progress as (
    select * from mart.task_progress
),

final as (
    select
        task_progress.period,
        task_progress.year,
        task_progress.group_code,
        task_progress.task_code,
        task_progress.task_content,
        task_progress.units_expected,
        task_progress.units_reported,
        task_progress.units_not_started,
        task_progress.units_in_progress,
        task_progress.units_completed
    from task_progress
    -- quarters that have started; the marts hold the whole plan
    where case
        when task_progress.period like '%Q_'
            then make_date(task_progress.year, 3 * right(task_progress.period, 1)::int - 2, 1)
        else make_date(task_progress.year, 1, 1)
    end <= current_date
)

select * from final
order by period, string_split(task_code, '.')::int[]

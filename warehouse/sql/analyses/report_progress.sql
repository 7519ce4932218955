-- Per task: its status in the latest of the report's quarters where units reported on it.
with task_progress as (
    select * from mart.task_progress
    where list_contains($periods, period)
),

latest as (
    select *
    from task_progress
    qualify row_number() over (
        partition by task_code order by units_reported > 0 desc, period desc
    ) = 1
),

final as (
    select
        task_code,
        task_content,
        period,
        units_expected,
        units_reported,
        units_not_started,
        units_in_progress,
        units_completed,
        results,
        difficulties,
        proposals
    from latest
)

select * from final
order by string_split(task_code, '.')::int[]

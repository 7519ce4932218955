-- How many units answer for each task in each year (lead or coordinate): the units a task's
-- reports are expected from.
with assignments as (
    select * from core.assignments
),

final as (
    select
        task_code,
        year,
        count(*) as units_expected
    from assignments
    group by task_code, year
)

select * from final

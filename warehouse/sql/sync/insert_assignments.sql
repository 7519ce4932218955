-- The responsibility matrix's cells with a role: each unit's role in a task, for every plan year
-- the task's timeframe covers (tasks and plan years are written first, in the same transaction).
insert into core.assignments
with roles as (
    select
        unnest($task_code::varchar[]) as task_code,
        unnest($unit_code::varchar[]) as unit_code,
        unnest($role::varchar[]) as role
),

final as (
    select
        roles.task_code,
        roles.unit_code,
        plan_years.year,
        roles.role
    from roles
    inner join core.tasks on roles.task_code = tasks.task_code
    inner join core.plan_years on plan_years.year between tasks.start_year and tasks.end_year
)

select * from final

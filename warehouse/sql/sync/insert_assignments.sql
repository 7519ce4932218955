insert into core.assignments
select
    unnest($task_code::varchar[]),
    unnest($unit_code::varchar[]),
    unnest($year::integer[]),
    unnest($role::varchar[])

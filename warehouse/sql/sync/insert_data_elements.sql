insert into core.data_elements
select
    unnest($element_code::varchar[]),
    unnest($task_code::varchar[]),
    unnest($element_name::varchar[]),
    unnest($measure::varchar[]),
    unnest($element_type::varchar[])

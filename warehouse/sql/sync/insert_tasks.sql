insert into core.tasks
select
    unnest($task_code::varchar[]),
    unnest($group_code::varchar[]),
    unnest($content::varchar[]),
    unnest($lead::varchar[]),
    unnest($coordinators::varchar[]),
    unnest($results::varchar[]),
    unnest($timeframe::varchar[]),
    unnest($timeframe_kind::varchar[]),
    unnest($start_year::integer[]),
    unnest($end_year::integer[])

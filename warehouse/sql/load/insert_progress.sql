insert into raw.progress
select
    $submission_id,
    unnest($line::integer[]),
    unnest($task_code::varchar[]),
    unnest($status::varchar[]),
    unnest($results::varchar[]),
    unnest($difficulties::varchar[]),
    unnest($proposals::varchar[]),
    unnest($evidence::varchar[]),
    unnest($sheet::varchar[]),
    unnest($row_number::integer[])

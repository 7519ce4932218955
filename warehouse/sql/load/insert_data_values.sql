insert into raw.data_values
select
    $submission_id,
    unnest($line::integer[]),
    unnest($task_code::varchar[]),
    unnest($element_code::varchar[]),
    unnest($value::double[]),
    unnest($raw_value::varchar[]),
    unnest($note::varchar[]),
    unnest($sheet::varchar[]),
    unnest($row_number::integer[]),
    unnest($column_letter::varchar[])

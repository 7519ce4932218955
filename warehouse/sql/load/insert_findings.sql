insert into raw.findings
select
    $submission_id,
    unnest($line::integer[]),
    unnest($code::varchar[]),
    unnest($severity::varchar[]),
    unnest($message::varchar[]),
    unnest($file_name::varchar[]),
    unnest($sheet::varchar[]),
    unnest($row_number::integer[]),
    unnest($column_letter::varchar[])

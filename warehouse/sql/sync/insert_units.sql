insert into core.units
select
    unnest($unit_code::varchar[]),
    unnest($unit_name::varchar[]),
    unnest($unit_type::varchar[]),
    unnest($email::varchar[]),
    unnest($active::boolean[])

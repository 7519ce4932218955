insert into core.element_targets
select
    unnest($element_code::varchar[]),
    unnest($year::integer[]),
    unnest($target::double[])

insert into core.indicator_targets
select
    unnest($indicator_code::varchar[]),
    unnest($year::integer[]),
    unnest($target::double[])

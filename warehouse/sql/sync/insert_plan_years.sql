insert into core.plan_years
select unnest($year::integer[])

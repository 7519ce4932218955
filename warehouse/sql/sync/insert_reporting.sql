insert into core.reporting
select unnest($period_kind::varchar[])

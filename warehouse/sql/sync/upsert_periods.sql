insert into core.periods
select
    unnest($period_code::varchar[]),
    unnest($period_kind::varchar[]),
    unnest($start_date::date[]),
    unnest($end_date::date[]),
    unnest($year::integer[]),
    unnest($deadline::date[]),
    unnest($deadline_at::timestamptz[])
on conflict (period_code) do update set
    deadline = excluded.deadline,
    deadline_at = excluded.deadline_at

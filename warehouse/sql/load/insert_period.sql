insert into core.periods
values ($period_code, $period_kind, $start_date, $end_date, $year, $deadline, $deadline_at)
on conflict (period_code) do nothing

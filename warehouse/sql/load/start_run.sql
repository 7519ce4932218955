insert into meta.load_runs (run_id, started_at)
values (nextval('meta.load_run_id'), $started_at)
returning run_id

-- Runs that never wrote their end: their process died. Run only under the writer lock, when
-- no other run can be loading.
update meta.load_runs
set
    finished_at = $closed_at,
    status = 'interrupted'
where finished_at is null
returning run_id, started_at

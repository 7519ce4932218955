update meta.load_runs
set
    finished_at = $finished_at,
    status = 'finished',
    imported = $imported,
    updated = $updated,
    ignored = $ignored,
    rejected = $rejected
where run_id = $run_id

insert into raw.submissions (
    submission_id, received_file_id, run_id, verdict, duplicate_of, unit_code, period_code,
    template_version, error_count, warning_count, value_count, progress_count, loaded_at
)
values (
    nextval('raw.submission_id'),
    $received_file_id,
    $run_id,
    $verdict,
    $duplicate_of,
    $unit_code,
    $period_code,
    $template_version,
    $error_count,
    $warning_count,
    $value_count,
    $progress_count,
    $loaded_at
)
returning submission_id

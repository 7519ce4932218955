-- The period's progress per task: units by status, with their narratives.
select
    task_code,
    task_content,
    units_expected,
    units_reported,
    units_not_started,
    units_in_progress,
    units_completed,
    results,
    difficulties,
    proposals,
    evidence
from mart.task_progress
where period = $period
order by string_split(task_code, '.')::int[]

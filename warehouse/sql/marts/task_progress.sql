-- Narratives are the current version's text of each unit, one line per unit: "UNIT: text".
with assignments as (
    select * from core.assignments
),

reporting as (
    select * from core.reporting
),

periods as (
    select core_periods.*
    from core.periods as core_periods
    inner join reporting on core_periods.period_kind = reporting.period_kind
),

tasks as (
    select * from core.tasks
),

progress as (
    select * from core.progress where is_current and task_code is not null
),

reported as (
    select
        task_code,
        period_code,
        year,
        unit_code,
        status_code,
        results,
        difficulties,
        proposals,
        evidence,
        received_at
    from progress
),

-- Units are counted without listing every expected report (a province's two million, each
-- unit of each task in each quarter): the expected ones per task and year, the reported ones
-- per unit, each told expected or not by its assignment.
expected as (
    select
        task_units.task_code,
        periods.period_code,
        periods.year,
        task_units.units_expected
    from core.task_units as task_units
    inner join periods on task_units.year = periods.year
),

-- One row per unit that reported the task in the period, whatever rows it gave it.
per_unit as (
    select
        task_code,
        period_code,
        year,
        unit_code,
        bool_or(status_code = 'not_started') as not_started,
        bool_or(status_code = 'in_progress') as in_progress,
        bool_or(status_code = 'completed') as completed
    from reported
    group by task_code, period_code, year, unit_code
),

reported_units as (
    select
        per_unit.task_code,
        per_unit.period_code,
        per_unit.year,
        count(*) as units_reported,
        count(assignments.unit_code) as expected_reported,
        count(*) filter (where per_unit.not_started) as units_not_started,
        count(*) filter (where per_unit.in_progress) as units_in_progress,
        count(*) filter (where per_unit.completed) as units_completed
    from per_unit
    left join periods on per_unit.period_code = periods.period_code
    left join assignments
        on per_unit.task_code = assignments.task_code
        and per_unit.unit_code = assignments.unit_code
        and periods.year = assignments.year
    group by per_unit.task_code, per_unit.period_code, per_unit.year
),

counted as (
    select
        coalesce(expected.task_code, reported_units.task_code) as task_code,
        coalesce(expected.period_code, reported_units.period_code) as period_code,
        coalesce(expected.year, reported_units.year) as year,
        coalesce(expected.units_expected, 0) as units_expected,
        coalesce(reported_units.units_reported, 0) as units_reported,
        coalesce(expected.units_expected, 0)
        - coalesce(reported_units.expected_reported, 0) as units_missing,
        coalesce(reported_units.units_not_started, 0) as units_not_started,
        coalesce(reported_units.units_in_progress, 0) as units_in_progress,
        coalesce(reported_units.units_completed, 0) as units_completed
    from expected
    full outer join reported_units
        on expected.task_code = reported_units.task_code
        and expected.period_code = reported_units.period_code
        and expected.year = reported_units.year
),

-- The narratives come from what was reported only, not from every expected report. Each
-- unit's lines are gathered once per task and period, in unit order, and joined per column
-- from that one list (a column's missing text is skipped): four ordered aggregates each held a
-- province's whole text at once.
gathered as (
    select
        task_code,
        period_code,
        year,
        list(
            struct_pack(
                results := unit_code || ': ' || results,
                difficulties := unit_code || ': ' || difficulties,
                proposals := unit_code || ': ' || proposals,
                evidence := unit_code || ': ' || evidence
            )
            order by unit_code
        ) as lines,
        max(received_at) as last_received_at
    from reported
    group by task_code, period_code, year
),

narrated as (
    select
        task_code,
        period_code,
        year,
        array_to_string(list_transform(lines, lambda l: l.results), chr(10)) as results,
        array_to_string(list_transform(lines, lambda l: l.difficulties), chr(10)) as difficulties,
        array_to_string(list_transform(lines, lambda l: l.proposals), chr(10)) as proposals,
        array_to_string(list_transform(lines, lambda l: l.evidence), chr(10)) as evidence,
        last_received_at
    from gathered
),

aggregated as (
    select
        counted.*,
        narrated.results,
        narrated.difficulties,
        narrated.proposals,
        narrated.evidence,
        narrated.last_received_at
    from counted
    left join narrated
        on counted.task_code = narrated.task_code
        and counted.period_code = narrated.period_code
        and counted.year = narrated.year
),

final as (
    select
        aggregated.task_code,
        tasks.group_code,
        tasks.content as task_content,
        aggregated.period_code as period,
        aggregated.year,
        aggregated.units_expected,
        aggregated.units_reported,
        aggregated.units_missing,
        aggregated.units_not_started,
        aggregated.units_in_progress,
        aggregated.units_completed,
        aggregated.results,
        aggregated.difficulties,
        aggregated.proposals,
        aggregated.evidence,
        aggregated.last_received_at
    from aggregated
    left join tasks on aggregated.task_code = tasks.task_code
)

select * from final

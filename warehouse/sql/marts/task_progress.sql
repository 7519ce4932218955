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

expected as (
    select
        assignments.task_code,
        periods.period_code,
        periods.year,
        assignments.unit_code
    from assignments
    inner join periods on assignments.year = periods.year
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

combined as (
    select
        coalesce(expected.task_code, reported.task_code) as task_code,
        coalesce(expected.period_code, reported.period_code) as period_code,
        coalesce(expected.year, reported.year) as year,
        coalesce(expected.unit_code, reported.unit_code) as unit_code,
        expected.unit_code is not null as is_expected,
        reported.unit_code is not null as has_reported,
        reported.status_code
    from expected
    full outer join reported
        on expected.task_code = reported.task_code
        and expected.period_code = reported.period_code
        and expected.unit_code = reported.unit_code
),

-- One row per unit first: counting units is then a plain count, which a province's half a
-- million expected reports can stream through (distinct counts hold every unit per task).
per_unit as (
    select
        task_code,
        period_code,
        year,
        unit_code,
        bool_or(is_expected) as is_expected,
        bool_or(has_reported) as has_reported,
        bool_or(status_code = 'not_started') as not_started,
        bool_or(status_code = 'in_progress') as in_progress,
        bool_or(status_code = 'completed') as completed
    from combined
    group by task_code, period_code, year, unit_code
),

counted as (
    select
        task_code,
        period_code,
        year,
        count(*) filter (where is_expected) as units_expected,
        count(*) filter (where has_reported) as units_reported,
        count(*) filter (where is_expected and not has_reported) as units_missing,
        count(*) filter (where not_started) as units_not_started,
        count(*) filter (where in_progress) as units_in_progress,
        count(*) filter (where completed) as units_completed
    from per_unit
    group by task_code, period_code, year
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

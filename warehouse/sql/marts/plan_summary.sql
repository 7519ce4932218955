-- Per task, plan year and element: the commune's total (flows summed, stocks by each unit's
-- latest value) against the element's target for the year (schemas/targets.yaml): actual,
-- percent of target, and met; all three null while the element is unreported or untargeted.
with tasks as (
    select * from core.tasks
),

elements as (
    select * from core.data_elements
),

plan_years as (
    select * from core.plan_years
),

targets as (
    select * from core.element_targets
),

unit_year_values as (
    select * from core.unit_year_values
),

totals as (
    select
        element_code,
        year,
        sum(value) as total,
        count(*) as units_reporting
    from unit_year_values
    group by element_code, year
),

responsible as (
    select * from core.task_units
),

final as (
    select
        tasks.task_code,
        tasks.group_code,
        tasks.content as task_content,
        plan_years.year,
        plan_years.year between tasks.start_year and tasks.end_year as in_timeframe,
        elements.element_code,
        elements.element_name,
        elements.measure,
        elements.element_type,
        totals.total,
        coalesce(totals.units_reporting, 0) as units_reporting,
        coalesce(responsible.units_expected, 0) as units_expected,
        targets.target,
        totals.total as actual,
        round(100 * totals.total / nullif(targets.target, 0), 1) as percent_of_target,
        case when targets.target is not null then totals.total >= targets.target end as met
    from tasks
    inner join elements on tasks.task_code = elements.task_code
    cross join plan_years
    left join totals
        on elements.element_code = totals.element_code
        and plan_years.year = totals.year
    left join responsible
        on tasks.task_code = responsible.task_code
        and plan_years.year = responsible.year
    left join targets
        on elements.element_code = targets.element_code
        and plan_years.year = targets.year
)

select * from final

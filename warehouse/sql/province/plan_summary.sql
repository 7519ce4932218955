-- The province's totals per task, year and element: the communes' totals added up (a commune's
-- total already takes each unit's latest stock), against the sum of the communes' targets.
with commune_plan_summary as (
    select * from mart.commune_plan_summary
),

summed as (
    select
        task_code,
        group_code,
        task_content,
        year,
        bool_or(in_timeframe) as in_timeframe,
        element_code,
        element_name,
        measure,
        element_type,
        sum(total) as total,
        sum(units_reporting)::bigint as units_reporting,
        sum(units_expected)::bigint as units_expected,
        sum(target) as target
    from commune_plan_summary
    group by task_code, group_code, task_content, year, element_code, element_name, measure,
        element_type
),

final as (
    select
        task_code,
        group_code,
        task_content,
        year,
        in_timeframe,
        element_code,
        element_name,
        measure,
        element_type,
        total,
        units_reporting,
        units_expected,
        target,
        total as actual,
        round(100 * total / nullif(target, 0), 1) as percent_of_target,
        case when target is not null then total >= target end as met
    from summed
)

select * from final

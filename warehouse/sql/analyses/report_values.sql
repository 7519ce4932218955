-- Per element: the figure of the report's quarters (flows summed; stocks latest), the year to
-- date and the year's target.
with plan_summary as (
    select * from mart.plan_summary
    where list_contains($years, year)
),

data_values as (
    select * from mart.data_values
    where list_contains($periods, period)
),

latest_stock as (
    select
        element_code,
        unit_code,
        arg_max(value, period) as value
    from data_values
    where element_type = 'stock'
    group by element_code, unit_code
),

in_periods as (
    select
        element_code,
        sum(value) as total
    from data_values
    where element_type <> 'stock'
    group by element_code
    union all
    select
        element_code,
        sum(value) as total
    from latest_stock
    group by element_code
),

final as (
    select
        plan_summary.task_code,
        plan_summary.element_code,
        plan_summary.element_name,
        plan_summary.measure,
        plan_summary.year,
        plan_summary.units_reporting,
        in_periods.total as period_total,
        plan_summary.actual,
        plan_summary.target,
        plan_summary.percent_of_target / 100 as share_of_target,
        case
            when plan_summary.met then 'Đạt'
            when not plan_summary.met then 'Chưa đạt'
            when plan_summary.target is null then 'Chưa đặt mục tiêu'
            else 'Chưa có số liệu'
        end as met
    from plan_summary
    left join in_periods
        on plan_summary.element_code = in_periods.element_code
        and list_count($years) = 1
    where plan_summary.in_timeframe
)

select * from final
order by string_split(element_code, '.')::int[], year

-- One figure per unit, element and year from the current values: flows (count, money) are
-- summed over the year's periods; a stock takes the value of the unit's latest period.
with data_values as (
    select * from core.data_values where is_current and year is not null
),

periods as (
    select * from core.periods
),

elements as (
    select * from core.data_elements
),

per_period as (
    select
        data_values.unit_code,
        data_values.element_code,
        data_values.year,
        periods.end_date,
        sum(data_values.value) as value
    from data_values
    inner join periods on data_values.period_code = periods.period_code
    group by all
),

final as (
    select
        per_period.unit_code,
        per_period.element_code,
        per_period.year,
        elements.element_type,
        case
            when elements.element_type = 'stock'
                then arg_max(per_period.value, per_period.end_date)
            else sum(per_period.value)
        end as value
    from per_period
    inner join elements on per_period.element_code = elements.element_code
    group by per_period.unit_code, per_period.element_code, per_period.year, elements.element_type
)

select * from final

-- The period's current figures per task and element, summed over the units that reported.
with data_values as (
    select * from mart.data_values
    where period = $period
),

final as (
    select
        task_code,
        element_code,
        element_name,
        measure,
        count(distinct unit_code) as units_reporting,
        sum(value) as total
    from data_values
    group by task_code, element_code, element_name, measure
)

select * from final
order by string_split(element_code, '.')::int[]

with data_values as (
    select * from core.data_values where is_current
),

units as (
    select * from core.units
),

elements as (
    select * from core.data_elements
),

final as (
    select
        data_values.unit_code,
        units.unit_name,
        units.unit_type,
        data_values.period_code as period,
        data_values.year,
        data_values.task_code,
        data_values.element_code,
        elements.element_name,
        elements.measure,
        elements.element_type,
        data_values.value,
        data_values.note,
        data_values.submission_id,
        data_values.version,
        data_values.received_at
    from data_values
    left join units on data_values.unit_code = units.unit_code
    left join elements on data_values.element_code = elements.element_code
)

select * from final

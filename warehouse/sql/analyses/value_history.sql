-- The current accepted values, one row per value, for the validator's outlier checks.
with data_values as (
    select * from core.data_values where is_current
),

final as (
    select
        unit_code,
        element_code,
        period_code as period,
        value
    from data_values
    where unit_code is not null and element_code is not null and period_code is not null
)

select * from final
order by unit_code, element_code, period

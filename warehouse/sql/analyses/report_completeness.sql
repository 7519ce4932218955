-- Completeness of the report's quarters: per unit type, then the total of the quarter last.
with completeness as (
    select * from mart.completeness
    where list_contains($periods, period)
),

final as (
    select
        period,
        coalesce(unit_type, 'Tổng cộng') as unit_type,
        expected,
        received,
        accepted,
        on_time,
        accepted_rate / 100 as accepted_share,
        on_time_rate / 100 as on_time_share,
        level = 'overall' as is_total
    from completeness
)

select * from final
order by period, is_total, unit_type

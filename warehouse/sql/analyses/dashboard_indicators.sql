-- The plan's indicators over 2026-2030 against their targets.
with indicators as (
    select * from mart.indicators
),

final as (
    select
        indicator_code,
        indicator_name,
        year,
        actual,
        target,
        percent_of_target,
        case when met then 'Đạt' when not met then 'Chưa đạt' else 'Chưa có số liệu' end as met
    from indicators
)

select * from final
order by indicator_code, year

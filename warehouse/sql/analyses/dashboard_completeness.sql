-- Completeness of every plan quarter that has started, per unit type and overall.
with completeness as (
    select * from mart.completeness
),

final as (
    select
        completeness.period,
        completeness.year,
        coalesce(completeness.unit_type, 'Tổng cộng') as unit_type,
        completeness.expected,
        completeness.received,
        completeness.accepted,
        completeness.on_time,
        completeness.accepted_rate,
        completeness.on_time_rate
    from completeness
    -- quarters that have started; the marts hold the whole plan
    where case
        when completeness.period like '%Q_'
            then make_date(completeness.year, 3 * right(completeness.period, 1)::int - 2, 1)
        else make_date(completeness.year, 1, 1)
    end <= current_date
)

select * from final
order by period, unit_type = 'Tổng cộng', unit_type

-- The province's indicators per year from the communes' figures: a ratio is
-- scale × Σ numerators / Σ denominators (the scale as the communes applied it), count_units
-- adds up the units above zero and the active units. The target is the communes' own when they
-- share one (a ratio such as CS-NS-KHCN's 3%), the sum of theirs for a count of units.
with commune_indicators as (
    select * from mart.commune_indicators
),

summed as (
    select
        indicator_code,
        indicator_name,
        kind,
        year,
        target_op,
        sum(numerator) as numerator,
        sum(denominator) as denominator,
        max(value * denominator / numerator) filter (
            where numerator <> 0 and value is not null
        ) as scale,
        case
            when kind = 'count_units' or target_op = 'all_units' then sum(target)
            when count(distinct target) = 1 and count(target) = count(*) then max(target)
        end as target
    from commune_indicators
    group by indicator_code, indicator_name, kind, year, target_op
),

valued as (
    select
        *,
        case kind
            when 'ratio' then
                case
                    when numerator = 0 and denominator <> 0 then 0.0
                    else round(scale, 6) * numerator / nullif(denominator, 0)
                end
            when 'count_units' then numerator
        end as value
    from summed
),

final as (
    select
        indicator_code,
        indicator_name,
        kind,
        year,
        numerator::double as numerator,
        denominator::double as denominator,
        value::double as value,
        target::double as target,
        value::double as actual,
        round(100 * value / nullif(target, 0), 1)::double as percent_of_target,
        target_op,
        case
            when value is null or target is null then null
            when target_op in ('>=', 'all_units') then value >= target
            when target_op = '<=' then value <= target
        end as met
    from valued
)

select * from final

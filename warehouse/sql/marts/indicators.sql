-- Every indicator for every plan year, computed from the definitions in core.indicators:
-- ratio       = scale × Σ numerator element / Σ denominator element (stocks: latest per unit);
-- count_units = units of `unit_type` whose numerator element is above zero in the year,
--               against every active unit of that type; none while the element is unreported.
with indicators as (
    select * from core.indicators
),

targets as (
    select * from core.indicator_targets
),

plan_years as (
    select * from core.plan_years
),

unit_year_values as (
    select * from core.unit_year_values
),

units as (
    select * from core.units
),

element_totals as (
    select
        element_code,
        year,
        sum(value) as total
    from unit_year_values
    group by element_code, year
),

units_above_zero as (
    select
        unit_year_values.element_code,
        unit_year_values.year,
        units.unit_type,
        count(*) as unit_count
    from unit_year_values
    inner join units on unit_year_values.unit_code = units.unit_code
    where unit_year_values.value > 0
    group by all
),

active_units as (
    select
        unit_type,
        count(*) as unit_count
    from units
    where active
    group by unit_type
),

figures as (
    select
        indicators.indicator_code,
        indicators.indicator_name,
        indicators.kind,
        indicators.scale,
        indicators.target_op,
        plan_years.year,
        case indicators.kind
            when 'ratio' then numerators.total
            -- a year in which nobody reported the element has no figure yet, not zero
            when 'count_units' then
                case when numerators.element_code is not null
                    then coalesce(units_above_zero.unit_count, 0)
                end
        end as numerator,
        case indicators.kind
            when 'ratio' then denominators.total
            when 'count_units' then coalesce(active_units.unit_count, 0)
        end as denominator
    from indicators
    cross join plan_years
    left join element_totals as numerators
        on indicators.numerator_element = numerators.element_code
        and plan_years.year = numerators.year
    left join element_totals as denominators
        on indicators.denominator_element = denominators.element_code
        and plan_years.year = denominators.year
    left join units_above_zero
        on indicators.numerator_element = units_above_zero.element_code
        and plan_years.year = units_above_zero.year
        and indicators.unit_type = units_above_zero.unit_type
    left join active_units on indicators.unit_type = active_units.unit_type
),

valued as (
    select
        figures.*,
        case figures.kind
            when 'ratio' then figures.scale * figures.numerator / nullif(figures.denominator, 0)
            when 'count_units' then figures.numerator
        end as value,
        case figures.target_op
            when 'all_units' then figures.denominator
            else targets.target
        end as target
    from figures
    left join targets
        on figures.indicator_code = targets.indicator_code
        and figures.year = targets.year
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

insert into core.indicators
select
    unnest($indicator_code::varchar[]),
    unnest($indicator_name::varchar[]),
    unnest($kind::varchar[]),
    unnest($numerator_element::varchar[]),
    unnest($denominator_element::varchar[]),
    unnest($unit_type::varchar[]),
    unnest($scale::double[]),
    unnest($target_op::varchar[])

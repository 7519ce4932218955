-- dashboard_units on a province's copy as a whole: each unit known by its commune, whose NSO
-- code prefixes the unit's code and whose name follows the unit's.
with expected_reports as (
    select * from mart.expected_reports
),

final as (
    select
        expected_reports.period,
        expected_reports.year,
        expected_reports.commune_code || '/' || expected_reports.unit_code as unit_code,
        concat_ws(', ', expected_reports.unit_name, expected_reports.commune_name) as unit_name,
        expected_reports.unit_type,
        case
            when expected_reports.on_time then 'Đúng hạn'
            when expected_reports.accepted then 'Được chấp nhận, trễ hạn'
            when expected_reports.received then 'Bị từ chối, cần gửi lại'
            when expected_reports.deadline >= current_date then 'Chưa đến hạn'
            else 'Chưa gửi'
        end as state,
        expected_reports.accepted,
        expected_reports.deadline,
        expected_reports.last_received_at
    from expected_reports
    -- quarters that have started; the marts hold the whole plan
    where case
        when expected_reports.period like '%Q_'
            then make_date(expected_reports.year, 3 * right(expected_reports.period, 1)::int - 2, 1)
        else make_date(expected_reports.year, 1, 1)
    end <= current_date
)

select * from final
order by period, unit_type, unit_code

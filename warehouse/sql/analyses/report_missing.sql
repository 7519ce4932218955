-- Expected units without an accepted file in the report's quarters, the latest result in words.
with expected_reports as (
    select * from mart.expected_reports
    where list_contains($periods, period) and not accepted
),

final as (
    select
        period,
        unit_code,
        unit_name,
        unit_type,
        case when received then 'Đã gửi' else 'Chưa gửi' end as sent,
        case last_status
            when 'accepted' then 'Được chấp nhận'
            when 'superseded' then 'Đã có bản thay thế'
            when 'rejected' then 'Bị từ chối, cần gửi lại'
            else 'Chưa có tệp'
        end as last_result,
        last_received_at
    from expected_reports
)

select * from final
order by period, unit_type, unit_code

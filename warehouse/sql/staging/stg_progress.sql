with source as (
    select * from raw.progress
),

final as (
    select
        submission_id,
        line,
        task_code,
        status,
        -- The three statuses of the template, whatever Unicode form the workbook used.
        case lower(trim(nfc_normalize(status)))
            when 'chưa triển khai' then 'not_started'
            when 'đang triển khai' then 'in_progress'
            when 'hoàn thành' then 'completed'
        end as status_code,
        nullif(trim(results), '') as results,
        nullif(trim(difficulties), '') as difficulties,
        nullif(trim(proposals), '') as proposals,
        nullif(trim(evidence), '') as evidence,
        sheet,
        row_number
    from source
)

select * from final

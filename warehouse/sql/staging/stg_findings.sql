with source as (
    select * from raw.findings
),

final as (
    select
        submission_id,
        line,
        code,
        severity,
        message,
        file_name,
        sheet,
        row_number,
        column_letter,
        case when row_number is not null then column_letter || row_number::varchar end as cell
    from source
)

select * from final

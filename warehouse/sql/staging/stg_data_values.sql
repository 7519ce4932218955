with source as (
    select * from raw.data_values
),

final as (
    select
        submission_id,
        line,
        task_code,
        element_code,
        value,
        raw_value,
        note,
        sheet,
        row_number,
        column_letter
    from source
)

select * from final

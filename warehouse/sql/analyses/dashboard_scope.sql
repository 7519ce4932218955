-- Whether the copy is a province's as a whole: its expected reports carry the commune, and a
-- unit is known by its commune and code (communes reuse codes such as UBND or THON-01).
with columns as (
    select * from information_schema.columns
),

final as (
    select count(*) > 0 as by_commune
    from columns
    where
        -- a copy scoped to one commune reads the province's through views of its own
        columns.table_catalog = current_database()
        and columns.table_schema = 'mart'
        and columns.table_name = 'expected_reports'
        and columns.column_name = 'commune_code'
)

select * from final

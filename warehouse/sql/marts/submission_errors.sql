with findings as (
    select * from staging.stg_findings
),

submissions as (
    select * from core.submissions
),

final as (
    select
        findings.submission_id,
        submissions.file_name,
        submissions.unit_code,
        submissions.period_code as period,
        submissions.version,
        findings.sheet,
        findings.cell,
        findings.severity,
        findings.code as error_code,
        findings.message,
        findings.line
    from findings
    inner join submissions on findings.submission_id = submissions.submission_id
)

select * from final

-- Per plan quarter known to the province: the communes of the province that have not
-- published it — no bundle loaded at all (`no_bundle`), or a current bundle in which no
-- expected unit of the commune has sent a report for the quarter (`no_reports`).
with communes as (
    select * from mart.communes
),

commune_completeness as (
    select * from mart.commune_completeness
),

expected_reports as (
    select * from province.expected_reports
),

quarters as (
    select
        period,
        any_value(year) as year,
        max(deadline) as deadline
    from expected_reports
    group by period
),

received as (
    select
        commune_code,
        period,
        received
    from commune_completeness
    where level = 'overall'
),

final as (
    select
        quarters.period,
        quarters.year,
        quarters.deadline,
        communes.commune_code,
        communes.commune_name,
        case when communes.bundle_id is null then 'no_bundle' else 'no_reports' end as reason,
        communes.bundle_id,
        communes.published_at
    from quarters
    cross join communes
    left join received
        on communes.commune_code = received.commune_code
        and quarters.period = received.period
    where communes.bundle_id is null or coalesce(received.received, 0) = 0
)

select * from final

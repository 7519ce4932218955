-- Per unit and period of the batch: versions already loaded, and how many were accepted.
with
pairs as (
    select distinct
        unnest($unit_codes::varchar[]) as unit_code,
        unnest($period_codes::varchar[]) as period_code
),

loaded as (
    select submissions.unit_code, submissions.period_code, submissions.verdict
    from raw.submissions as submissions
    semi join pairs
        on submissions.unit_code = pairs.unit_code
        and submissions.period_code = pairs.period_code
    where submissions.verdict <> 'duplicate'
),

final as (
    select
        unit_code,
        period_code,
        count(*) as versions,
        count(*) filter (where verdict in ('accepted', 'warned')) as accepted
    from loaded
    group by unit_code, period_code
)

select * from final

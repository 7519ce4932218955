-- The province's progress per task and period: the communes' unit counts added up, and their
-- narratives one line per commune and unit (`COMMUNE / UNIT: text`).
with commune_task_progress as (
    select * from mart.commune_task_progress
),

final as (
    select
        task_code,
        group_code,
        task_content,
        period,
        year,
        sum(units_expected)::bigint as units_expected,
        sum(units_reported)::bigint as units_reported,
        sum(units_missing)::bigint as units_missing,
        sum(units_not_started)::bigint as units_not_started,
        sum(units_in_progress)::bigint as units_in_progress,
        sum(units_completed)::bigint as units_completed,
        string_agg(
            commune_name || ' / ' || replace(results, chr(10), chr(10) || commune_name || ' / '),
            chr(10) order by commune_code
        ) as results,
        string_agg(
            commune_name || ' / '
            || replace(difficulties, chr(10), chr(10) || commune_name || ' / '),
            chr(10) order by commune_code
        ) as difficulties,
        string_agg(
            commune_name || ' / ' || replace(proposals, chr(10), chr(10) || commune_name || ' / '),
            chr(10) order by commune_code
        ) as proposals,
        string_agg(
            commune_name || ' / ' || replace(evidence, chr(10), chr(10) || commune_name || ' / '),
            chr(10) order by commune_code
        ) as evidence,
        max(last_received_at) as last_received_at
    from commune_task_progress
    group by task_code, group_code, task_content, period, year
)

select * from final

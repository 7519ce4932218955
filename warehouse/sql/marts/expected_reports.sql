-- A unit is expected for a plan period (of the kind the commune reports by: quarter unless set
-- otherwise) when it leads or coordinates at least one task whose timeframe covers the period's
-- year (the matrix already says which years a task covers).
with assignments as (
    select * from core.assignments
),

reporting as (
    select * from core.reporting
),

periods as (
    select core_periods.*
    from core.periods as core_periods
    inner join reporting on core_periods.period_kind = reporting.period_kind
),

units as (
    select * from core.units
),

submissions as (
    select * from core.submissions where unit_code is not null and period_code is not null
),

expected as (
    select
        periods.period_code,
        periods.year,
        periods.deadline,
        assignments.unit_code,
        count(*) as task_count
    from assignments
    inner join periods on assignments.year = periods.year
    group by all
),

received as (
    select
        unit_code,
        period_code,
        count(*) filter (where status <> 'duplicate') as files_received,
        count(*) filter (where is_accepted) as files_accepted,
        min(received_at) filter (where is_accepted) as first_accepted_at,
        bool_or(received_on_time) filter (where is_accepted) as first_accepted_on_time,
        max(version) filter (where is_current) as current_version,
        max(submission_id) filter (where is_current) as current_submission_id,
        arg_max(status, submission_id) filter (where status <> 'duplicate') as last_status,
        max(received_at) as last_received_at,
        coalesce(bool_or(value_count > 0) filter (where is_current), false) as values_received,
        coalesce(bool_or(progress_count > 0) filter (where is_current), false)
            as progress_received
    from submissions
    group by unit_code, period_code
),

final as (
    select
        expected.period_code as period,
        expected.year,
        expected.unit_code,
        units.unit_name,
        units.unit_type,
        expected.task_count,
        coalesce(received.files_received, 0) > 0 as received,
        coalesce(received.files_accepted, 0) > 0 as accepted,
        -- The accepted file received first decides; any accepted file on time means it was.
        coalesce(received.first_accepted_on_time, false) as on_time,
        coalesce(received.files_received, 0) as files_received,
        received.current_version,
        received.current_submission_id,
        received.last_status,
        received.first_accepted_at,
        received.last_received_at,
        expected.deadline,
        -- Who to chase: nothing sent, only rejected files (must resend), or accepted but late.
        case
            when coalesce(received.files_accepted, 0) > 0
                then case when coalesce(received.first_accepted_on_time, false)
                    then 'on_time' else 'late' end
            when coalesce(received.files_received, 0) > 0 then 'awaiting_resend'
            else 'not_sent'
        end as report_state,
        coalesce(received.values_received, false) as values_received,
        coalesce(received.progress_received, false) as progress_received
    from expected
    inner join units on expected.unit_code = units.unit_code
    left join received
        on expected.unit_code = received.unit_code
        and expected.period_code = received.period_code
)

select * from final

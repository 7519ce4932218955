-- Identifiers for a batch's new files and their submissions, in load order.
with
numbered as (
    select
        range as position,
        nextval('raw.received_file_id') as received_file_id,
        nextval('raw.submission_id') as submission_id
    from range($count)
),

final as (
    select received_file_id, submission_id
    from numbered
    order by position
)

select * from final

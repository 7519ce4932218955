-- The province level: the communes of the province, every bundle checked (loaded or rejected,
-- with the reason), each consolidation run, and the communes' marts as their bundles held them.
-- Rows of every loaded bundle are kept (history); the current figures of a commune are those of
-- its latest loaded bundle. Empty in a commune's warehouse.
create schema province;

create table province.communes (
    commune_code varchar primary key,
    commune_name varchar not null,
    province_code varchar not null,
    province_name varchar not null
);

create sequence province.consolidation_id_seq start 1;

create table province.consolidations (
    consolidation_id bigint primary key,
    started_at timestamptz not null,
    finished_at timestamptz,
    bundles_listed integer,
    loaded integer,
    unchanged integer,
    rejected integer
);

create table province.bundles (
    consolidation_id bigint not null,
    commune_code varchar not null,
    bundle_id varchar not null,
    status varchar not null,
    reason varchar,
    commune_name varchar,
    contract_version integer,
    run_id bigint,
    published_at timestamptz,
    row_counts varchar,
    checked_at timestamptz not null,
    loaded_at timestamptz
);

create table province.submissions (
    commune_code varchar not null,
    bundle_id varchar not null,
    submission_id bigint,
    file_name varchar,
    url varchar,
    sha256 varchar,
    unit_code varchar,
    unit_name varchar,
    unit_type varchar,
    period varchar,
    year integer,
    version bigint,
    status varchar,
    is_current boolean,
    superseded_by bigint,
    duplicate_of bigint,
    error_count integer,
    warning_count integer,
    value_count integer,
    received_at timestamptz,
    deadline date,
    on_time boolean,
    loaded_at timestamptz,
    run_id bigint,
    mail_message_id varchar,
    mail_sender varchar,
    mail_sender_unit varchar,
    mail_subject varchar,
    attachment_name varchar
);

create table province.submission_errors (
    commune_code varchar not null,
    bundle_id varchar not null,
    submission_id bigint,
    file_name varchar,
    unit_code varchar,
    period varchar,
    version bigint,
    sheet varchar,
    cell varchar,
    severity varchar,
    error_code varchar,
    message varchar,
    line integer
);

create table province.data_values (
    commune_code varchar not null,
    bundle_id varchar not null,
    unit_code varchar,
    unit_name varchar,
    unit_type varchar,
    period varchar,
    year integer,
    task_code varchar,
    element_code varchar,
    element_name varchar,
    measure varchar,
    element_type varchar,
    value double,
    note varchar,
    submission_id bigint,
    version bigint,
    received_at timestamptz
);

create table province.expected_reports (
    commune_code varchar not null,
    bundle_id varchar not null,
    period varchar,
    year integer,
    unit_code varchar,
    unit_name varchar,
    unit_type varchar,
    task_count bigint,
    received boolean,
    accepted boolean,
    on_time boolean,
    files_received bigint,
    current_version bigint,
    current_submission_id bigint,
    last_status varchar,
    first_accepted_at timestamptz,
    last_received_at timestamptz,
    deadline date,
    report_state varchar,
    values_received boolean,
    progress_received boolean
);

create table province.completeness (
    commune_code varchar not null,
    bundle_id varchar not null,
    period varchar,
    year integer,
    level varchar,
    unit_type varchar,
    expected bigint,
    received bigint,
    accepted bigint,
    on_time bigint,
    received_rate double,
    accepted_rate double,
    on_time_rate double,
    not_sent bigint,
    awaiting_resend bigint,
    late bigint,
    values_received bigint,
    progress_received bigint
);

create table province.task_progress (
    commune_code varchar not null,
    bundle_id varchar not null,
    task_code varchar,
    group_code varchar,
    task_content varchar,
    period varchar,
    year integer,
    units_expected bigint,
    units_reported bigint,
    units_missing bigint,
    units_not_started bigint,
    units_in_progress bigint,
    units_completed bigint,
    results varchar,
    difficulties varchar,
    proposals varchar,
    evidence varchar,
    last_received_at timestamptz
);

create table province.indicators (
    commune_code varchar not null,
    bundle_id varchar not null,
    indicator_code varchar,
    indicator_name varchar,
    kind varchar,
    year integer,
    numerator double,
    denominator double,
    value double,
    target double,
    actual double,
    percent_of_target double,
    target_op varchar,
    met boolean
);

create table province.plan_summary (
    commune_code varchar not null,
    bundle_id varchar not null,
    task_code varchar,
    group_code varchar,
    task_content varchar,
    year integer,
    in_timeframe boolean,
    element_code varchar,
    element_name varchar,
    measure varchar,
    element_type varchar,
    total double,
    units_reporting bigint,
    units_expected bigint,
    target double,
    actual double,
    percent_of_target double,
    met boolean
);

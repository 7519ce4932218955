-- Append-only: rows here are never updated or deleted, so any past state can be rebuilt.

create sequence raw.received_file_id start 1;
create sequence raw.submission_id start 1;

-- One row per file received from one place; the same bytes from the same URL are one receipt.
create table raw.received_files (
    received_file_id bigint primary key,
    sha256 varchar not null,
    size bigint not null,
    name varchar not null,
    url varchar not null,
    received_at timestamptz not null,
    archived_path varchar not null,
    run_id bigint not null,
    registered_at timestamptz not null,
    unique (sha256, url)
);

-- One row per received file: what validation decided, or that the bytes were already known.
create table raw.submissions (
    submission_id bigint primary key,
    received_file_id bigint not null references raw.received_files (received_file_id),
    run_id bigint not null,
    verdict varchar not null check (verdict in ('accepted', 'warned', 'rejected', 'duplicate')),
    duplicate_of bigint,
    unit_code varchar,
    period_code varchar,
    template_version varchar,
    error_count integer not null,
    warning_count integer not null,
    value_count integer not null,
    progress_count integer not null,
    loaded_at timestamptz not null
);

create table raw.data_values (
    submission_id bigint not null references raw.submissions (submission_id),
    line integer not null,
    task_code varchar,
    element_code varchar,
    value double not null,
    raw_value varchar,
    note varchar,
    sheet varchar,
    row_number integer,
    column_letter varchar
);

create table raw.progress (
    submission_id bigint not null references raw.submissions (submission_id),
    line integer not null,
    task_code varchar,
    status varchar,
    results varchar,
    difficulties varchar,
    proposals varchar,
    evidence varchar,
    sheet varchar,
    row_number integer
);

create table raw.findings (
    submission_id bigint not null references raw.submissions (submission_id),
    line integer not null,
    code varchar not null,
    severity varchar not null,
    message varchar not null,
    file_name varchar,
    sheet varchar,
    row_number integer,
    column_letter varchar
);

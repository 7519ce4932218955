"""`khcn serve`: a read-only HTTP service over the published copy, for upstream.

- `GET /` the dashboard written beside the published copy (a short page until there is one);
- `GET /api/marts` the marts and their columns;
- `GET /api/marts/{name}?column=value&format=json|csv|parquet&limit=N` one mart, filtered by
  equality on its own columns (a column given twice matches either value);
- `POST /api/query` `{"sql": "...", "format": "json"}` any read-only SQL, bounded as
  `khcn query` is (statement timeout, memory and thread caps, no file access, row limit).

On a province's copy the marts carry the commune as a dimension (`commune_code`), and
`commune=CODE` (a query parameter of `/api/marts/{name}`, a field of `/api/query`) reads the
contract's marts as that one commune published them.

Every request but `/api/health` needs a token the analyst issued (`khcn tokens add NAME`), as
`Authorization: Bearer TOKEN`, or as the password of HTTP Basic (any user name) so a browser
can open the dashboard. Every request is logged to `<service_dir>/queries.log`, one JSON line.
Each request reads the published file current when it starts; a publish swaps the file by
rename, so readers never see half a copy and never block a load.
"""

# No `from __future__ import annotations`: FastAPI reads the route signatures at run time, and
# the authentication dependency is local to the app.
import base64
import binascii
import csv
import dataclasses
import io
import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import Body, Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response

from core.settings import Settings
from khcn.tokens import TokenError, TokenStore, tokens_file
from warehouse.db import MARTS, identifier
from warehouse.publish import published_database
from warehouse.query import QueryError, QueryLimits, QueryResult, run_bounded

DASHBOARD_FILE = "dashboard.html"
QUERY_LOG = "queries.log"
FORMATS = ("json", "csv", "parquet")
_RESERVED = {"format", "limit", "commune"}
_STATUS = {
    "missing": 503,
    "busy": 503,
    "timeout": 408,
    "memory": 422,
    "refused": 403,
    "invalid": 400,
}
_PLACEHOLDER = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Kế hoạch KHCN, ĐMST và CĐS</title></head>
<body><h1>Kế hoạch KHCN, ĐMST và CĐS – xã {commune}</h1>
<p>Chưa có trang tổng quan: trang được tạo sau mỗi lần công bố kho dữ liệu
(<code>khcn ingest</code> hoặc <code>khcn dashboard</code>).</p>
<p>Dữ liệu: <code>GET /api/marts</code>, <code>GET /api/marts/completeness?period=2026Q3</code>,
<code>POST /api/query</code>.</p></body></html>
"""


class ServiceError(Exception):
    """A request answered with an error: HTTP status, kind and a Vietnamese message."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind


class QueryLog:
    """Append-only JSON lines: who asked what, how many rows, how long, with what outcome.

    Past `max_bytes` the file moves to `queries.log.1` (the older ones to `.2`...), and the
    oldest beyond `keep` is dropped, so years of queries do not fill the data folder.
    """

    def __init__(self, path: Path, *, max_bytes: int = 10 * 1024 * 1024, keep: int = 5) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.keep = keep
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def _rotate(self) -> None:
        for n in range(self.keep - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{n}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{n + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))

    def write(self, **entry: Any) -> None:
        """Append one entry, with the time."""
        line = json.dumps(
            {"at": datetime.now(UTC).isoformat(timespec="milliseconds"), **entry},
            ensure_ascii=False,
            default=str,
        )
        with self._lock:
            if self.path.exists() and self.path.stat().st_size >= self.max_bytes:
                self._rotate()
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(line + "\n")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def render(result: QueryResult, fmt: str) -> Response:
    """The rows as JSON (`columns`, `rows` as objects, `row_count`, `truncated`), CSV or
    Parquet; the row count and whether rows were cut also go in headers."""
    headers = {
        "X-Row-Count": str(result.table.num_rows),
        "X-Truncated": "true" if result.truncated else "false",
    }
    if fmt == "csv":
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(result.columns)
        for row in result.rows:
            writer.writerow(["" if v is None else _json_value(v) for v in row])
        return Response(text.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        buffer = io.BytesIO()
        try:
            pq.write_table(result.table.rename_columns(result.unique_columns()), buffer)
        except (pa.ArrowException, ValueError) as exc:
            raise ServiceError(
                400,
                "invalid",
                f"không ghi được kết quả ra Parquet ({str(exc)[:120]}); đổi cột đó sang kiểu "
                "khác, ví dụ cast(cot as varchar), hoặc chọn format json hay csv.",
            ) from None
        return Response(
            buffer.getvalue(), media_type="application/vnd.apache.parquet", headers=headers
        )
    body = {
        "columns": result.columns,
        "rows": result.records(),
        "row_count": result.table.num_rows,
        "truncated": result.truncated,
    }
    return Response(
        json.dumps(body, ensure_ascii=False, default=_json_value),
        media_type="application/json",
        headers=headers,
    )


def _format(value: str | None) -> str:
    fmt = (value or "json").lower()
    if fmt not in FORMATS:
        raise ServiceError(
            400,
            "invalid",
            f"định dạng «{fmt[:40]}» không có; chọn một trong: {', '.join(FORMATS)}.",
        )
    return fmt


def _limit(value: str | None, ceiling: int) -> int:
    if value is None:
        return ceiling
    try:
        limit = int(value)
    except ValueError:
        limit = -1
    if not 0 < limit <= ceiling:
        raise ServiceError(
            400,
            "invalid",
            f"limit phải là số nguyên từ 1 đến {ceiling}, không phải «{value[:40]}».",
        )
    return limit


def _token_of(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        user, _, password = decoded.partition(":")
        # `curl -u TOKEN:` puts it in the user name.
        return password or user or None
    return None


class _Service:
    """What the routes share: the copy's settings, tokens, the query log and the query bounds."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = TokenStore(tokens_file(settings.service))
        self.log = QueryLog(settings.service / QUERY_LOG)
        self.limits = QueryLimits.from_settings(settings)
        # Each running statement has its own memory and threads: this bounds them all together.
        self.running = threading.BoundedSemaphore(settings.query_concurrency)
        self.columns_cache: dict[tuple[int, int], dict[str, list[str]]] = {}

    def bounded(
        self, sql_text: str, params: list[Any] | None, max_rows: int, commune: str | None = None
    ) -> QueryResult:
        """Runs one statement on the published copy within the bounds, if a slot frees in time."""
        if not self.running.acquire(timeout=self.settings.query_queue_seconds):
            raise ServiceError(
                503, "busy", "máy chủ đang bận với nhiều truy vấn khác; hãy thử lại sau ít phút."
            )
        try:
            return run_bounded(
                self.settings.published,
                sql_text,
                dataclasses.replace(self.limits, max_rows=max_rows),
                params,
                commune=commune,
            )
        except QueryError as exc:
            raise ServiceError(_STATUS.get(exc.kind, 400), exc.kind, str(exc)) from None
        finally:
            self.running.release()

    def mart_columns(self) -> dict[str, list[str]]:
        """Columns of each mart of the current copy; they change only with a migration."""
        try:
            stat = published_database(self.settings.published).stat()
        except FileNotFoundError:
            raise ServiceError(
                503, "missing", "chưa có bản công bố của kho dữ liệu; hãy chạy khcn ingest trước."
            ) from None
        key = (stat.st_ino, stat.st_mtime_ns)
        if key not in self.columns_cache:
            result = self.bounded(
                "select table_name, column_name from information_schema.columns "
                "where table_schema = 'mart' order by table_name, ordinal_position",
                None,
                100_000,
            )
            found: dict[str, list[str]] = {}
            for table, column in result.rows:
                # A province's copy has its own marts beside the contract's (communes, …).
                if table in MARTS or self.settings.level == "province":
                    found.setdefault(table, []).append(column)
            self.columns_cache.clear()
            self.columns_cache[key] = found
        return self.columns_cache[key]

    def who(self, request: Request) -> str:
        """The token's owner; 401 without a valid token."""
        token = _token_of(request)
        try:
            name = self.store.owner(token) if token else None
        except TokenError as exc:
            raise ServiceError(500, "tokens", str(exc)) from None
        if name is None:
            raise ServiceError(
                401,
                "unauthorized",
                "cần mã truy cập hợp lệ (Authorization: Bearer <mã>); xin cán bộ phụ trách "
                "cấp mã bằng khcn tokens add <tên>.",
            )
        request.state.who = name
        return name

    def logged(
        self, request: Request, kind: str, what: Any, run: Callable[[], QueryResult], fmt: str
    ) -> Response:
        """Runs a request's statement and writes its line in the query log, whatever happens."""
        started = time.monotonic()
        try:
            result = run()
            response = render(result, fmt)
        except ServiceError as exc:
            self.log.write(
                who=request.state.who,
                kind=kind,
                what=what,
                rows=0,
                seconds=round(time.monotonic() - started, 3),
                outcome=exc.kind,
                message=str(exc),
            )
            raise
        self.log.write(
            who=request.state.who,
            kind=kind,
            what=what,
            rows=result.table.num_rows,
            truncated=result.truncated,
            seconds=round(time.monotonic() - started, 3),
            outcome="ok",
        )
        return response

    def answer(self, request: Request, exc: ServiceError) -> JSONResponse:
        """A refusal as JSON; a missing token is logged and asks the browser for one."""
        headers = {}
        if exc.status == 401:
            headers["WWW-Authenticate"] = 'Basic realm="khcn", charset="UTF-8"'
            self.log.write(
                who=None,
                kind="auth",
                what=f"{request.method} {request.url.path}",
                rows=0,
                seconds=0,
                outcome="unauthorized",
                client=request.client.host if request.client else None,
            )
        return JSONResponse(
            {"error": str(exc), "kind": exc.kind}, status_code=exc.status, headers=headers
        )

    def mart(self, name: str, request: Request) -> Response:
        """One mart, filtered by its own columns given as query parameters."""
        known = self.mart_columns()
        if name not in known:
            raise ServiceError(
                404, "invalid", f"không có bảng «{name[:60]}»; các bảng: {', '.join(known)}."
            )
        query = request.query_params
        fmt = _format(query.get("format"))
        max_rows = _limit(query.get("limit"), self.settings.query_max_rows)
        sql_text, params = _mart_statement(name, known[name], query)
        filters = {k: query.getlist(k) for k in dict.fromkeys(query.keys())}
        return self.logged(
            request,
            "mart",
            {"mart": name, "filters": filters},
            lambda: self.bounded(sql_text, params, max_rows, query.get("commune")),
            fmt,
        )


def _mart_statement(name: str, columns: list[str], query: Any) -> tuple[str, list[Any]]:
    """The statement for a mart filtered by query parameters (`QueryParams`): column names
    come from the copy's own catalogue, values only as parameters."""
    conditions = []
    params: list[Any] = []
    for column in dict.fromkeys(query.keys()):
        if column in _RESERVED:
            continue
        if column not in columns:
            raise ServiceError(
                400,
                "invalid",
                f"bảng {name} không có cột «{column[:60]}» để lọc; các cột: {', '.join(columns)}.",
            )
        values = query.getlist(column)
        # Comparing as text accepts `year=2026` and `on_time=true` alike.
        conditions.append(
            f"cast({identifier(column)} as varchar) in ({', '.join('?' for _ in values)})"
        )
        params.extend(values)
    sql_text = f"select * from mart.{identifier(name)}" + (
        " where " + " and ".join(conditions) if conditions else ""
    )
    return sql_text, params


def _malformed(request: Request, exc: RequestValidationError) -> JSONResponse:
    return JSONResponse(
        {
            "error": 'yêu cầu không hợp lệ: gửi JSON {"sql": "select ...", "format": "json"} '
            "với Content-Type: application/json.",
            "kind": "invalid",
        },
        status_code=400,
    )


def create_app(settings: Settings) -> FastAPI:
    """The service over `settings.published`, with tokens and log in `settings.service`."""
    app = FastAPI(title="khcn", docs_url=None, redoc_url=None, openapi_url=None)
    service = _Service(settings)
    app.add_exception_handler(ServiceError, service.answer)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _malformed)  # type: ignore[arg-type]
    User = Annotated[str, Depends(service.who)]

    @app.get("/api/health")
    def health() -> dict[str, Any]:
        return {"ok": True, "published": published_database(settings.published).is_file()}

    @app.get("/", response_class=HTMLResponse)
    def dashboard(user: User) -> Response:
        page = settings.published / DASHBOARD_FILE
        if page.is_file():
            return HTMLResponse(page.read_bytes())
        return HTMLResponse(_PLACEHOLDER.format(commune=settings.commune_name))

    @app.get("/api/marts")
    def marts(user: User) -> dict[str, list[str]]:
        return service.mart_columns()

    @app.get("/api/marts/{name}")
    def mart(name: str, request: Request, user: User) -> Response:
        return service.mart(name, request)

    @app.post("/api/query")
    def run_query(
        request: Request,
        user: User,
        sql: Annotated[str, Body(embed=True, max_length=100_000)],
        output: Annotated[str | None, Body(embed=True, alias="format")] = None,
        commune: Annotated[str | None, Body(embed=True, max_length=10)] = None,
    ) -> Response:
        fmt = _format(output)
        return service.logged(
            request,
            "query",
            sql,
            lambda: service.bounded(sql, None, settings.query_max_rows, commune),
            fmt,
        )

    return app


def serve(settings: Settings, host: str, port: int) -> None:
    """Run the service until interrupted."""
    import uvicorn

    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")

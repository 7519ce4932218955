"""Three communes publish bundles (over SFTP and to a folder); the province consolidates them.

A real OpenSSH server runs on a loopback port with a host key, a configuration and an
authorized key made here; the communes run the real ingest flow on demo submissions; the
province runs its flow and publishes its marts.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from openpyxl import load_workbook
from test_warehouse_marts import documented_marts
from typer.testing import CliRunner

from core.settings import PROJECT_ROOT, SCHEMAS_DIR, Settings
from demo.samples import write_sample_inbox
from flows.consolidate_province import consolidate_province
from flows.ingest_submissions import ingest_submissions
from khcn.cli import app
from outputs.dashboard import DASHBOARD
from schemas.schema import load_schema
from warehouse.bundle import MANIFEST, latest_bundles, write_bundle
from warehouse.db import MARTS
from warehouse.province import PROVINCE_MARTS
from warehouse.publish import Publication, published_database
from warehouse.status import period_status

pytestmark = pytest.mark.usefixtures("prefect_api")

SSHD = Path("/usr/sbin/sshd")
PROVINCE = "37"  # Ninh Bình
# Three communes of Ninh Bình, xã Nghĩa Hưng among them, with demo submissions each.
COMMUNES = {"13891": "Nghĩa Hưng", "14464": "Gia Viễn", "14500": "Đại Hoàng"}
TAMPERED = "14482"  # Gia Hưng, Ninh Bình: its bundle is altered after writing
FOREIGN = "16972"  # Nghĩa Hưng, Nghệ An: another province
DOC = PROJECT_ROOT / "docs" / "warehouse.md"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """An sshd on 127.0.0.1 with its own keys and config, serving SFTP; stopped afterwards."""
    if not SSHD.is_file():
        pytest.fail("openssh-server is not installed (make system)")
    root = tmp_path_factory.mktemp("sshd")
    keygen = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
    for name in ("host_key", "client_key"):
        subprocess.run(
            [keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(root / name)], check=True
        )
    (root / "authorized_keys").write_text((root / "client_key.pub").read_text())
    (root / "authorized_keys").chmod(0o600)
    if os.geteuid() == 0:
        # sshd started by root insists on its privilege-separation folder, which a service
        # manager normally makes; an empty folder, nothing configured in it.
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    port = _free_port()
    config = root / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {root / 'host_key'}\n"
        f"PidFile {root / 'sshd.pid'}\nAuthorizedKeysFile {root / 'authorized_keys'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "StrictModes no\nPermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n"
    )
    log = root / "sshd.log"
    server = subprocess.Popen(
        [str(SSHD), "-D", "-e", "-f", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            if server.poll() is not None:
                pytest.fail(f"sshd exited:\n{log.read_text()}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"sshd not listening:\n{log.read_text()}")
                time.sleep(0.2)
        user = subprocess.run(["id", "-un"], capture_output=True, text=True, check=True)
        yield {"port": port, "key": root / "client_key", "user": user.stdout.strip()}
    finally:
        server.terminate()
        server.wait(timeout=20)


def _commune_env(monkeypatch: pytest.MonkeyPatch, data: Path, code: str, name: str) -> None:
    for key in [k for k in os.environ if k.startswith("KHCN_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("KHCN_DATA_DIR", str(data))
    monkeypatch.setenv("KHCN_SCHEMAS_DIR", str(SCHEMAS_DIR))
    monkeypatch.setenv("KHCN_COMMUNE_CODE", code)
    monkeypatch.setenv("KHCN_COMMUNE_NAME", name)


def _rows(database: Path, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(sql, params or {}).fetchall()


def test_three_communes_consolidate_at_the_province(
    sftp: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = tmp_path / "province-inbox"  # what the SFTP server serves, and a folder too
    shared.mkdir()
    sftp_url = f"sftp://{sftp['user']}@127.0.0.1:{sftp['port']}{shared}"
    schema = load_schema(Settings(schemas_dir=SCHEMAS_DIR, data_dir=tmp_path / "x"))
    published: dict[str, Path] = {}
    for n, (code, name) in enumerate(COMMUNES.items()):
        data = tmp_path / f"commune-{code}"
        _commune_env(monkeypatch, data, code, name)
        if n < 2:
            monkeypatch.setenv("KHCN_PUBLISH_URL", sftp_url)
            monkeypatch.setenv("KHCN_PUBLISH_KEY_FILE", str(sftp["key"]))
        else:
            monkeypatch.setenv("KHCN_PUBLISH_URL", str(shared))
        write_sample_inbox(
            schema, ["2026Q1", "2026Q2"], data / "inbox", seed=100 + n, missing_rate=0.1 * n
        )
        ingest_submissions()
        published[code] = published_database(Settings(data_dir=data).published)

    # Each commune's bundle is there, whole: manifest last, with its checksums.
    settings = Settings(data_dir=tmp_path / "p", publish_url=str(shared))
    assert {r.commune_code for r in latest_bundles(str(shared), settings)} == set(COMMUNES)
    first = next((shared / "14464").iterdir())
    manifest = json.loads((first / MANIFEST).read_text())
    assert manifest["commune_code"] == "14464" and manifest["commune_name"] == "Xã Gia Viễn"
    assert set(manifest["files"]) >= {"completeness", "indicators", "task_progress"}

    # Two more bundles: one altered after writing, one of a commune of another province.
    publication = _publication(published["13891"])
    for code in (TAMPERED, FOREIGN):
        write_bundle(publication, url=str(shared), settings=settings, commune_code=code)
    [tampered] = list((shared / TAMPERED).iterdir())
    with (tampered / "completeness.parquet").open("ab") as handle:
        handle.write(b"\0")

    # The province, reading the same folder over SFTP.
    province_data = tmp_path / "province"
    _commune_env(monkeypatch, province_data, "", "")
    monkeypatch.delenv("KHCN_COMMUNE_CODE")
    monkeypatch.delenv("KHCN_COMMUNE_NAME")
    monkeypatch.setenv("KHCN_LEVEL", "province")
    monkeypatch.setenv("KHCN_PROVINCE_CODE", PROVINCE)
    monkeypatch.setenv("KHCN_PUBLISH_URL", sftp_url)
    monkeypatch.setenv("KHCN_PUBLISH_KEY_FILE", str(sftp["key"]))
    monkeypatch.setenv("KHCN_PROVINCE_BATCH", "2")
    result = consolidate_province()

    assert result["listed"] == 5 and result["loaded"] == 3 and result["rejected"] == 2
    reasons = {r["commune_code"]: r["reason"] for r in result["rejected_bundles"]}
    assert "SHA-256" in reasons[TAMPERED] and "completeness.parquet" in reasons[TAMPERED]
    assert "Nghệ An" in reasons[FOREIGN] and "không thuộc tỉnh" in reasons[FOREIGN]

    province = published_database(Settings(data_dir=province_data).published)
    # The province's figures are the sum of the communes'.
    for period in ("2026Q1", "2026Q2"):
        columns = "expected, received, accepted, on_time, not_sent, late"
        sql = f"select {columns} from mart.completeness where period = $p and level = 'overall'"
        summed = [sum(col) for col in zip(*(_rows(p, sql, {"p": period})[0]
                                            for p in published.values()), strict=True)]  # fmt: skip
        assert list(_rows(province, sql, {"p": period})[0]) == summed
        assert summed[0] > 0
    values = "select count(*), sum(value) from mart.data_values"
    counts = [_rows(p, values)[0] for p in published.values()]
    [(count, total)] = _rows(province, values)
    assert count == sum(c for c, _ in counts)
    assert total == pytest.approx(sum(t for _, t in counts))
    totals = "select sum(total) from mart.plan_summary where year = 2026"
    assert _rows(province, totals)[0][0] == pytest.approx(
        sum(_rows(p, totals)[0][0] for p in published.values())
    )
    # Per commune, the province holds exactly what the commune published.
    for code, path in published.items():
        mine = _rows(path, "select * from mart.completeness order by all")
        there = _rows(
            province,
            "select * exclude (commune_code, commune_name) from mart.commune_completeness "
            "where commune_code = $c order by all",
            {"c": code},
        )
        assert there == mine
    # Refusals are recorded with their reasons; the tampered commune has not published.
    states = dict(_rows(province, "select commune_code, last_check_status from mart.communes "
                                  "where last_check_status is not null"))  # fmt: skip
    assert states == {**dict.fromkeys(COMMUNES, "loaded"), TAMPERED: "rejected"}
    missing = _rows(
        province,
        "select commune_code, reason from mart.unpublished_communes where period = '2026Q1'",
    )
    assert (TAMPERED, "no_bundle") in missing
    assert not {c for c, _ in missing} & set(COMMUNES)
    assert len(missing) == len(_rows(province, "select * from mart.communes")) - len(COMMUNES)

    _same_outputs_one_level_up(province_data, published)
    _province_marts_match_the_doc(province)

    # Again, from the command line: nothing new, nothing loaded twice.
    runner = CliRunner()
    shown = runner.invoke(app, ["--data-dir", str(province_data), "province", "consolidate"])
    assert shown.exit_code == 0, shown.output
    assert "nạp 0, không đổi 3, từ chối 2" in shown.stdout
    assert f"Xã {TAMPERED}: tệp completeness.parquet có SHA-256" in shown.stdout
    assert _rows(province, values)[0][0] == count
    listed = runner.invoke(
        app, ["--data-dir", str(province_data), "province", "communes", "--json"]
    )
    assert listed.exit_code == 0, listed.output
    refused = {r["commune_code"]: r["last_check_reason"] for r in json.loads(listed.stdout)}
    assert "SHA-256" in refused[TAMPERED] and refused["13891"] is None


def _same_outputs_one_level_up(data: Path, published: dict[str, Path]) -> None:
    """status, query, report and the dashboard on the province, whole or for one commune."""
    # The page the consolidation drew beside its publication: the province's, units told apart.
    drawn = (Settings(data_dir=data).published / DASHBOARD).read_text(encoding="utf-8")
    assert "tỉnh Ninh Bình" in drawn
    assert all(f"<td>{code}/UBND</td>" in drawn for code in published)
    runner = CliRunner()

    def cli(*args: str) -> Any:
        result = runner.invoke(app, ["--data-dir", str(data), *args])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout) if "--json" in args else result.stdout

    whole = cli("status", "--period", "2026Q1", "--json")
    mine = {code: period_status(path, "2026Q1") for code, path in published.items()}
    assert whole["overall"]["expected"] == sum(m["overall"]["expected"] for m in mine.values())
    assert len(whole["units"]) == sum(len(m["units"]) for m in mine.values())
    for code, own in mine.items():
        scoped = cli("status", "--period", "2026Q1", "--commune", code, "--json")
        assert scoped["overall"] == own["overall"]
        assert scoped["missing"] == json.loads(json.dumps(own["missing"], default=str))
    rows = cli(
        "query", "--commune", "14464", "--json", "select count(*) as n from mart.data_values"
    )
    assert rows == [{"n": _rows(published["14464"], "select count(*) from mart.data_values")[0][0]}]
    by_commune = cli(
        "query",
        "--json",
        "select commune_code, count(*) as n from mart.data_values group by all order by 1",
    )
    assert [r["commune_code"] for r in by_commune] == sorted(published)
    unknown = CliRunner().invoke(
        app, ["--data-dir", str(data), "status", "--period", "2026Q1", "--commune", "16972"]
    )
    assert unknown.exit_code == 1 and "không có số liệu của xã 16972" in unknown.output

    report = data / "reports" / "tinh.xlsx"
    cli("report", "--period", "2026Q1", "--out", str(report), "--no-pdf")
    heading = load_workbook(report).worksheets[0]["A1"].value
    assert heading == "UBND TỈNH NINH BÌNH"
    cli("report", "--period", "2026Q1", "--commune", "14500", "--out", str(report), "--no-pdf")
    assert load_workbook(report).worksheets[0]["A1"].value == "UBND XÃ ĐẠI HOÀNG"
    page = Path(cli("dashboard", "--commune", "13891").split(": ", 1)[1].strip())
    text = page.read_text(encoding="utf-8")
    assert "xã Nghĩa Hưng" in text and "<td>UBND</td>" in text and "13891/" not in text
    page = Path(cli("dashboard").split(": ", 1)[1].strip())
    text = page.read_text(encoding="utf-8")
    assert "tỉnh Ninh Bình" in text
    # Communes reuse unit codes: the whole province's page tells their units apart.
    assert all(f"<td>{code}/UBND</td>" in text for code in published)


def _province_marts_match_the_doc(province: Path) -> None:
    """docs/warehouse.md is the province marts' contract too."""
    contract = documented_marts()
    own: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("### province: mart."):
            current = own.setdefault(line.removeprefix("### province: mart.").strip(), [])
        elif line.startswith("#"):
            current = None
        elif current is not None and line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if cells[0] not in ("column", "") and not set(cells[0]) <= {"-"}:
                current.append((cells[0], cells[1]))
    keys = [("commune_code", "varchar"), ("commune_name", "varchar")]
    for name in PROVINCE_MARTS:
        found = [(str(c), str(t).lower()) for c, t, *_ in _rows(province, f"describe mart.{name}")]
        if name in own:
            expected = own[name]
        elif name.startswith("commune_") or name in (
            "submissions",
            "submission_errors",
            "data_values",
            "expected_reports",
        ):
            expected = keys + contract[name.removeprefix("commune_")]
        else:
            assert name in MARTS
            expected = contract[name]
        assert found == expected, name


def _publication(database: Path) -> Publication:
    """The commune's current publication, as `publish` described it."""
    from datetime import UTC, datetime

    rows = {mart: int(_rows(database, f"select count(*) from mart.{mart}")[0][0]) for mart in MARTS}
    return Publication(
        database=database,
        parquet_dir=database.parent / "parquet",
        published_at=datetime.now(UTC),
        mart_rows=rows,
        seconds=0.0,
    )

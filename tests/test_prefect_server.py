"""A kept-alive local Prefect server (`khcn server`) is used when it answers, never guessed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mail_support import free_port

from core.settings import Settings, local_prefect_answers, local_prefect_url, prefect_defaults


@contextmanager
def _answering(body: bytes) -> Iterator[int]:
    """A loopback HTTP server whose /api/health answers `body`; yields its port."""

    class Health(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/api/health" else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def test_only_a_prefect_health_check_counts() -> None:
    with _answering(b"true") as port:
        assert local_prefect_answers(port)
    with _answering(b"<html>another service</html>") as port:
        assert not local_prefect_answers(port)
    assert not local_prefect_answers(port)  # closed now


def test_commands_use_the_kept_alive_server(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # Every variable the defaults would set is set here, so the session's are restored after.
    for name, value in (
        ("PREFECT_HOME", str(tmp_path / ".prefect")),
        ("PREFECT_SERVER_ANALYTICS_ENABLED", "false"),
        ("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120"),
        ("PREFECT_LOGGING_LEVEL", os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING")),
        ("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL"),
    ):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    with _answering(b"true") as port:
        prefect_defaults(Settings(data_dir=tmp_path, prefect_port=port))
        assert os.environ["PREFECT_API_URL"] == local_prefect_url(port)
        # A URL already set wins over the kept-alive server.
        monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:1/api")
        prefect_defaults(Settings(data_dir=tmp_path, prefect_port=port))
        assert os.environ["PREFECT_API_URL"] == "http://127.0.0.1:1/api"
    monkeypatch.delenv("PREFECT_API_URL")
    prefect_defaults(Settings(data_dir=tmp_path, prefect_port=port))
    assert "PREFECT_API_URL" not in os.environ


def test_khcn_server_says_when_one_already_answers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from khcn.cli import app

    # Set, then unset: the session's values (or their absence) come back after the command
    # has set them.
    for name in ("PREFECT_HOME", "PREFECT_API_URL"):
        monkeypatch.setenv(name, str(tmp_path / name))
    monkeypatch.delenv("PREFECT_API_URL")
    monkeypatch.setenv("PREFECT_LOGGING_LEVEL", os.environ.get("PREFECT_LOGGING_LEVEL", "WARNING"))
    with _answering(b"true") as port:
        shown = CliRunner().invoke(
            app, ["--data-dir", str(tmp_path), "server", "--port", str(port)]
        )
    assert shown.exit_code == 0, shown.output
    assert f"Máy chủ Prefect đã chạy tại {local_prefect_url(port)}." in shown.stdout


def test_khcn_server_stopped_as_a_service_stops_its_prefect_server(tmp_path: Path) -> None:
    """SIGTERM (a service manager's stop) to `khcn server` stops the Prefect server it runs."""
    port = free_port()
    env = {**os.environ, "KHCN_DATA_DIR": str(tmp_path), "PREFECT_HOME": str(tmp_path / "p")}
    env.pop("PREFECT_API_URL", None)
    khcn = Path(sys.executable).with_name("khcn")
    process = subprocess.Popen(
        [str(khcn), "server", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait(lambda: local_prefect_answers(port) or process.poll() is not None, 120)
        assert process.poll() is None, "khcn server stopped by itself"
        children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
        assert children
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0
        # The Prefect server went with it.
        _wait(lambda: not any(Path(f"/proc/{pid}").exists() for pid in children), 30)
        assert not local_prefect_answers(port)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


def _wait(done: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not done in {seconds:.0f} s"
        time.sleep(0.2)

"""`khcn` served by the warm process of `khcn server`: the same output, exit codes and files as
the command run in its own process; Ctrl-C and kill -9 reach the run; changed code and
another user's folder are never served."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import pty
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from core.settings import PROJECT_ROOT, Settings, local_prefect_answers
from demo.samples import write_sample_inbox
from khcn import warm as warm_module
from khcn.interrupt import INTERRUPTED_EXIT, MESSAGE
from schemas.schema import load_schema

KHCN = Path(sys.executable).with_name("khcn")
STARTUP = 300.0
LOADING = "Đang nạp "


@dataclass
class Server:
    """A `khcn server` and the warm process it started."""

    process: subprocess.Popen[bytes]
    port: int
    warm: int
    log: Path
    runtime: Path

    def served(self) -> list[str]:
        """The warm process's lines about the commands it ran, in order."""
        return re.findall(r"lệnh .* kết thúc, mã -?\d+", self.log.read_text())

    def children(self) -> list[int]:
        return _children(self.warm)


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait(done: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"{what} within {seconds:.0f} s")
        time.sleep(0.2)


def _environment(runtime: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KHCN_", "PREFECT_"))}
    return env | {"XDG_RUNTIME_DIR": str(runtime), "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}


@contextlib.contextmanager
def khcn_server(root: Path) -> Iterator[Server]:
    runtime = root / "run"
    runtime.mkdir(mode=0o700)
    port, log = _free_port(), root / "server.log"
    env = _environment(runtime) | {"KHCN_DATA_DIR": str(root / "server")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [str(KHCN), "server", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait(
            lambda: (
                process.poll() is not None
                or (local_prefect_answers(port) and "sẵn sàng" in log.read_text())
            ),
            STARTUP,
            "khcn server and its warm process did not start",
        )
        assert process.poll() is None, log.read_text()
        (warm,) = [
            pid
            for pid in _children(process.pid)
            if b"khcn.warm" in Path(f"/proc/{pid}/cmdline").read_bytes()
        ]
        yield Server(process, port, warm, log, runtime)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with khcn_server(tmp_path_factory.mktemp("warm")) as running:
        yield running


@pytest.fixture(scope="module")
def inbox(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A quarter of the commune's reports, some with slips."""
    root = tmp_path_factory.mktemp("warm-inbox")
    schema = load_schema(Settings(data_dir=root / "unused"))
    write_sample_inbox(schema, ["2026Q2"], root / "inbox", seed=5, slip_rate=0.3)
    return root / "inbox"


def khcn(
    server: Server,
    data: Path,
    *args: str,
    served: bool = True,
    env_extra: dict[str, str] | None = None,
    **popen: Any,
) -> subprocess.Popen[bytes]:
    env = _environment(server.runtime) | {"KHCN_PREFECT_PORT": str(server.port)}
    env |= env_extra or {}
    if not served:
        env["KHCN_WARM"] = "0"
    return subprocess.Popen(
        [str(KHCN), "--data-dir", str(data), *args], env=env, cwd=PROJECT_ROOT, **popen
    )


def finished(process: subprocess.Popen[bytes]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=STARTUP)
    return process.returncode, (out or b"").decode(), (err or b"").decode()


def _files(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (Path(f["file"]).name, f["unit"], f["period"], f["verdict"], len(f["errors"]))
        for f in result["files"]
    )


def test_an_ingest_served_is_the_ingest_run_in_its_own_process(
    server: Server, inbox: Path, tmp_path: Path
) -> None:
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    ingest = ("--inbox", str(inbox), "ingest", "--json")
    before = server.served()
    here = finished(khcn(server, tmp_path / "here", *ingest, served=False, **pipes))
    assert server.served() == before
    warm = finished(khcn(server, tmp_path / "warm", *ingest, **pipes))
    (line,) = server.served()[len(before) :]
    assert "ingest --json (pid " in line and line.endswith("kết thúc, mã 0")
    assert warm[0] == here[0] == 0, warm[2]
    ran_here, ran_warm = json.loads(here[1]), json.loads(warm[1])
    assert ran_warm["verdicts"]["rejected"] > 0
    assert ran_warm["verdicts"] == ran_here["verdicts"]
    assert _files(ran_warm) == _files(ran_here)
    assert ran_warm["load"] == ran_here["load"]
    # The same lines on stderr but for the figures (seconds, rates) of each step.
    assert re.sub(r"[\d.,]+", "#", warm[2]) == re.sub(r"[\d.,]+", "#", here[2])


def test_a_failing_command_fails_the_same_way(server: Server, tmp_path: Path) -> None:
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    missing = ("--config", str(tmp_path / "khong-co.toml"), "status")
    before = len(server.served())
    warm = finished(khcn(server, tmp_path, *missing, **pipes))
    assert len(server.served()) == before + 1
    here = finished(khcn(server, tmp_path, *missing, served=False, **pipes))
    assert warm == here
    assert warm[0] == 1 and "không thấy tệp cấu hình" in warm[2]


def _in_a_terminal(start: Callable[..., subprocess.Popen[bytes]]) -> bytes:
    """What a command prints to a terminal of 100 x 30 (colours, box drawing and all)."""
    main, side = pty.openpty()
    fcntl.ioctl(side, termios.TIOCSWINSZ, struct.pack("4H", 30, 100, 0, 0))
    env = {"TERM": "xterm-256color", "COLUMNS": "", "LINES": ""}  # the size is the terminal's
    process = start(stdin=side, stdout=side, stderr=side, env_extra=env)
    os.close(side)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError as exc:  # the terminal's other end closed (EIO)
            assert exc.errno == errno.EIO
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert process.wait(timeout=STARTUP) == 0, out.decode(errors="replace")
    return out


def test_a_terminal_gets_what_it_would_get(server: Server, inbox: Path, tmp_path: Path) -> None:
    """Colours and the terminal's width reach the child: it writes to the caller's terminal."""
    data = tmp_path / "data"
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    code, _, err = finished(khcn(server, data, "--inbox", str(inbox), "ingest", **pipes))
    assert code == 0, err

    def status(served: bool) -> Callable[..., subprocess.Popen[bytes]]:
        def start(env_extra: dict[str, str], **streams: Any) -> subprocess.Popen[bytes]:
            return khcn(
                server,
                data,
                "status",
                "--period",
                "2026Q2",
                served=served,
                env_extra=env_extra,
                **streams,
            )

        return start

    before = len(server.served())
    warm = _in_a_terminal(status(True))
    assert len(server.served()) == before + 1
    assert b"\x1b[" in warm  # coloured: rich saw a terminal
    assert warm == _in_a_terminal(status(False))


def test_ctrl_c_and_kill_reach_the_run(server: Server, inbox: Path, tmp_path: Path) -> None:
    """Ctrl-C to the command stops its run cleanly (exit 130); kill -9 of the command takes
    its run with it (its reader workers too), and the next run is not blocked."""
    data = tmp_path / "data"
    pipes: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    args = ("--inbox", str(inbox), "ingest")

    interrupted = khcn(server, data, *args, env_extra={"KHCN_LOAD_BATCH": "1"}, **pipes)
    _wait_for_line(interrupted, LOADING)
    interrupted.send_signal(signal.SIGINT)  # the command only, not its process group
    code, _, err = finished(interrupted)
    assert code == INTERRUPTED_EXIT
    assert MESSAGE.strip() in err
    _wait(lambda: not server.children(), 30, "the interrupted run did not end")
    assert server.served()[-1].endswith(f"mã {INTERRUPTED_EXIT}")

    killed = khcn(server, data, *args, env_extra={"KHCN_LOAD_BATCH": "1"}, **pipes)
    _wait_for_line(killed, LOADING)
    running = [p for c in server.children() for p in (c, *_descendants(c))]
    assert running
    killed.kill()
    killed.wait()
    _wait(
        lambda: not any(Path(f"/proc/{p}").exists() for p in running),
        30,
        "the killed command's run (or a worker of it) went on",
    )
    assert server.served()[-1].endswith("mã -9")

    code, _, err = finished(khcn(server, data, *args, **pipes))
    assert code == 0, err
    assert "Đã gỡ khoá ghi kho cũ" in err


def _wait_for_line(process: subprocess.Popen[bytes], text: str) -> None:
    assert process.stderr is not None
    for raw in process.stderr:
        if text in raw.decode():
            return
    pytest.fail(f"the run ended before '{text}'")


def _descendants(pid: int) -> list[int]:
    found = []
    for child in _children(pid):
        found += [child, *_descendants(child)]
    return found


def test_a_second_warm_process_leaves_the_socket_to_the_first(server: Server) -> None:
    env = _environment(server.runtime)
    second = subprocess.run(
        [sys.executable, "-P", "-m", "khcn.warm"], env=env, capture_output=True, timeout=STARTUP
    )
    assert second.returncode == 0
    assert "một tiến trình khác đang phục vụ" in second.stderr.decode()
    assert server.children() == []
    before = len(server.served())
    finished(khcn(server, server.runtime, "--config", "khong-co.toml", "status"))
    assert len(server.served()) == before + 1


def test_changed_code_runs_in_its_own_process_until_the_warm_process_restarts(
    tmp_path: Path,
) -> None:
    """A project file changed since the warm process imported it: the command runs in its own
    process, and the warm process starts again on the new code for the next one."""
    code = tmp_path / "code"
    for package in ("core", "sources", "schemas", "warehouse", "outputs", "flows", "khcn"):
        shutil.copytree(
            PROJECT_ROOT / package, code / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    runtime = tmp_path / "run"
    runtime.mkdir(mode=0o700)
    env = _environment(runtime) | {"PYTHONPATH": str(code), "KHCN_DATA_DIR": str(tmp_path)}
    log = tmp_path / "warm.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-P", "-m", "khcn.warm"], env=env, stdout=out, stderr=subprocess.STDOUT
        )

    def ready(count: int) -> Callable[[], bool]:
        return lambda: process.poll() is not None or log.read_text().count("sẵn sàng") >= count

    missing = [str(KHCN), "--config", str(tmp_path / "khong-co.toml"), "status"]

    def served_after(command: list[str]) -> int:
        before = log.read_text().count("kết thúc")
        done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, check=False)
        assert done.returncode == 1 and "không thấy tệp cấu hình" in done.stderr.decode()
        return log.read_text().count("kết thúc") - before

    try:
        _wait(ready(1), STARTUP, "the warm process did not start")
        assert process.poll() is None, log.read_text()
        assert list(runtime.glob("khcn/warm-*.sock"))
        assert served_after(missing) == 1
        changed = code / "flows" / "ingest_submissions.py"
        changed.write_text(changed.read_text() + "\n# changed\n")
        assert served_after(missing) == 0
        _wait(ready(2), STARTUP, "the warm process did not start again")
        assert process.poll() is None, log.read_text()
        assert "mã nguồn đã đổi" in log.read_text()
        assert served_after(missing) == 1
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert not list(runtime.glob("khcn/warm-*.sock"))


def test_a_folder_others_can_enter_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The socket's folder must be the user's own: where others may enter it, the command
    runs in its own process and says nothing to a socket found there."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    path = warm_module.socket_path()
    path.parent.mkdir(mode=0o755)
    path.parent.chmod(0o755)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as listener:
        listener.bind(str(path))
        listener.listen(1)
        listener.setblocking(False)
        assert warm_module.run_served(["khcn", "status"]) is None
        with pytest.raises(BlockingIOError):
            listener.accept()
        # The same folder made private: the command is handed over (and runs in its own
        # process when no answer comes).
        path.parent.chmod(0o700)
        answers: list[int | None] = []
        asking = threading.Thread(
            target=lambda: answers.append(warm_module.run_served(["khcn", "status"]))
        )
        asking.start()
        listener.settimeout(30)
        conn, _ = listener.accept()
        conn.close()
        asking.join(timeout=30)
        assert answers == [None]

"""The `khcn` command served by a warm process: libraries imported once, a fork per command.

A command spends its first 3-6 s importing Prefect, Great Expectations, pandas and plotly on
one core, more than an empty inbox or a single new file takes to handle. `khcn server` starts
a warm process beside its Prefect server (`python -m khcn.warm`): it imports those once and
waits on a Unix socket in a folder that only its user can open. The `khcn` command (`main`)
sends it its arguments, environment, working folder and standard streams (the file
descriptors themselves); the warm process forks a child that takes them over and runs the
command exactly as `khcn` would have, then sends back the child's exit status.

- The child imports the command line itself (`khcn.cli`, its terminal consoles) and reads
  Prefect's settings again from the caller's environment (`core.settings.prefect_defaults`).
- Ctrl-C and termination reach the child's process group (the run and its reader workers),
  as a terminal's Ctrl-C reaches a command run in it; a command that is killed takes its
  child with it: the warm process kills the child's group when the connection closes.
- The warm process serves no other user (peer credentials), no other Python and no other
  code: where a file it imported changed, it answers `stale` and the command runs in its own
  process, as it does where no warm process answers; once its children are done the warm
  process starts again on the new code.
- It forks only while it has a single thread (`core.settings.warm_environment`).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import gc
import hashlib
import importlib
import json
import os
import selectors
import signal
import socket
import stat
import struct
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Literal, NoReturn, TextIO

# Libraries a command imports before it does anything (the flows, validation, the dashboard).
# The command line itself is not among them: it makes its terminal consoles at import, and
# the child imports it for the terminal it was handed.
WARM_MODULES = (
    "core.settings",
    "flows.ingest_submissions",
    "flows.consolidate_nightly",
    "flows.consolidate_province",
    "schemas.validation",
    "schemas.suites",
    "outputs.dashboard",
    "outputs.feedback",
    "warehouse.history",
    # What they import only once they run.
    "anyio._backends._asyncio",
    "anyio.streams.tls",
    "fastapi.encoders",
    "fsspec.implementations.chained",
    "graphviz",
    "great_expectations",
    "great_expectations.expectations.row_conditions",
    "lxml.etree",
    "multiprocessing.synchronize",
    "openpyxl",
    "opentelemetry.metrics",
    "pandas.core.reshape.reshape",
    "plotly.graph_objs._bar",
    "plotly.graph_objs._heatmap",
    "plotly.graph_objs._layout",
    "plotly.graph_objs._scatter",
    "plotly.io._html",
    "plotly.io.json",
    "plotly.validator_cache",
    "prefect.engine",
    "prefect.flow_engine",
    "prefect.task_engine",
    "prefect.utilities.visualization",
    "pyarrow.pandas_compat",
    "pydantic.color",
    "rich.markdown",
    "rich.traceback",
    "typer._adapters",
    "typer.rich_utils",
)

# Commands that stay in their own process: long-lived services gain nothing from a warm
# start, and `server` starts the warm process itself.
IN_PROCESS = frozenset({"server", "serve"})

_REQUEST_BYTES = 1 << 20
_STREAMS = 3
_PR_SET_PDEATHSIG = 1
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_STOP_GRACE = 10.0
_REQUEST_SECONDS = 5.0


def runtime_dir() -> Path:
    """The folder of the warm process's socket, which it makes the user's own."""
    base = os.environ.get("XDG_RUNTIME_DIR")
    return Path(base, "khcn") if base else Path(f"/tmp/khcn-{os.getuid()}")


def socket_path() -> Path:
    """The warm process's socket for this installation (one per Python environment)."""
    tag = hashlib.sha1(sys.prefix.encode(), usedforsecurity=False).hexdigest()[:12]
    return runtime_dir() / f"warm-{tag}.sock"


def _private(folder: Path) -> bool:
    """Whether `folder` is a real folder of this user that no one else may enter."""
    try:
        st = folder.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


# ---- the command's side ----------------------------------------------------------------


def main() -> None:
    """The `khcn` command: served by the warm process where one answers, else run here."""
    code = run_served(sys.argv)
    if code is None:
        from khcn.cli import app

        app()
    else:
        sys.exit(code)


def run_served(argv: list[str]) -> int | None:
    """Runs the command in a child of the warm process; its exit code, or None where no warm
    process could take it (the caller then runs it itself)."""
    if os.environ.get("KHCN_WARM") == "0" or not IN_PROCESS.isdisjoint(argv[1:]):
        return None
    path = socket_path()
    if not _private(path.parent):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        try:
            conn.connect(str(path))
            socket.send_fds(conn, [_request(argv)], list(range(_STREAMS)))
            reply = _receive(conn)
        except OSError:
            return None
        if reply is None or "pid" not in reply:
            return None
        group = int(reply["pid"])
        previous = {s: signal.signal(s, _forward_to(group)) for s in _FORWARDED}
        try:
            done = _receive(conn)
        except OSError:
            done = None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
    if done is None:
        # The warm process itself was killed: its child is stopped, as if this command was.
        with contextlib.suppress(OSError):
            os.killpg(group, signal.SIGKILL)
        os.write(2, "khcn: tiến trình phục vụ lệnh đã dừng giữa chừng; chạy lại lệnh.\n".encode())
        return 1
    code = int(done["exit"])
    if code < 0:
        # Killed by a signal: the command ends the same way, as a shell or a test expects.
        with contextlib.suppress(OSError, ValueError):
            signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
    return code if code >= 0 else 128 - code


def _request(argv: list[str]) -> bytes:
    streams = [sys.stdin, sys.stdout, sys.stderr]
    return json.dumps(
        {
            "argv": argv,
            "env": dict(os.environ),
            "cwd": str(Path.cwd()),
            "executable": sys.executable,
            "streams": [
                [getattr(s, "encoding", None), getattr(s, "errors", None)] for s in streams
            ],
        }
    ).encode()


def _receive(conn: socket.socket) -> dict[str, Any] | None:
    """One message of the warm process, None once the connection is closed."""
    data = conn.recv(_REQUEST_BYTES)
    return json.loads(data) if data else None


def _forward_to(group: int) -> Any:
    def forward(signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(OSError):
            os.killpg(group, signum)

    return forward


# ---- the warm process ----------------------------------------------------------------


def fingerprint() -> str:
    """What this process runs: every imported file of the project, and the installed
    packages (their folders change when a package is added, removed or upgraded)."""
    root = str(Path(__file__).resolve().parents[1])
    files = sorted(
        path
        for module in list(sys.modules.values())
        if (path := getattr(module, "__file__", None))
        and path.startswith(root)
        and not path.startswith(sys.prefix)
    )
    packages = sorted(p for p in sys.path if p.startswith(sys.prefix) and Path(p).is_dir())
    digest = hashlib.sha1(sys.executable.encode(), usedforsecurity=False)
    for name in files + packages:
        with contextlib.suppress(OSError):
            st = Path(name).stat()
            digest.update(f"{name}\0{st.st_mtime_ns}\0{st.st_size}\n".encode())
    return digest.hexdigest()


@dataclass
class _Child:
    pid: int
    conn: socket.socket
    pidfd: int
    command: str


class _Stop(Exception):
    """SIGTERM to the warm process (its `khcn server` stops)."""


class WarmProcess:
    """Accepts commands on the socket, forks one child for each, reports their exit."""

    def __init__(self, listener: socket.socket, path: Path) -> None:
        self.listener, self.path = listener, path
        self.inode = path.stat().st_ino  # the socket's file, removed at the end if still ours
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, self._accept)
        self.children: dict[int, _Child] = {}
        self.code = fingerprint()
        self.stale = False

    def serve(self) -> None:
        """Serves until SIGTERM, or until it is stale and its children are done (it then
        starts again on the new code)."""
        try:
            while not (self.stale and not self.children):
                for key, _ in self.selector.select():
                    key.data(key.fileobj)
        except _Stop:
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            self._close_listener()
            self._stop_children()
            return
        self._close_listener()
        _say("khcn warm: mã nguồn đã đổi; khởi động lại để dùng mã mới.")
        os.execv(sys.executable, [sys.executable, "-P", "-m", "khcn.warm"])

    def _close_listener(self) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(self.listener)
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self.inode:
                self.path.unlink()
        self.listener.close()

    def _accept(self, listener: Any) -> None:
        try:
            conn, _ = self.listener.accept()
        except OSError:
            return
        fds: list[int] = []
        try:
            _pid, uid, _gid = struct.unpack(
                "3i", conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
            )
            conn.settimeout(_REQUEST_SECONDS)  # a caller that sends nothing holds no one up
            message, fds, _flags, _addr = socket.recv_fds(conn, _REQUEST_BYTES, _STREAMS)
            conn.settimeout(None)
            request = json.loads(message)
            if uid != os.getuid() or len(fds) != _STREAMS:
                raise ValueError("not this user's command, or not its three streams")
            if Path(request["executable"]).resolve() != Path(sys.executable).resolve():
                raise ValueError("another Python")
            if fingerprint() != self.code:
                self.stale = True
                conn.send(json.dumps({"stale": True}).encode())
                conn.close()
                return
            self._fork(conn, request, fds)
        except (OSError, ValueError, KeyError, TypeError, struct.error):
            conn.close()
        finally:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _fork(self, conn: socket.socket, request: dict[str, Any], fds: list[int]) -> None:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, fds, self._open_here(conn))
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        child = _Child(pid, conn, os.pidfd_open(pid), " ".join(request["argv"][1:])[:200])
        self.children[pid] = child
        self.selector.register(child.pidfd, selectors.EVENT_READ, lambda _: self._reap(child))
        self.selector.register(conn, selectors.EVENT_READ, lambda _: self._caller_left(child))
        with contextlib.suppress(OSError):
            conn.send(json.dumps({"pid": pid}).encode())

    def _open_here(self, conn: socket.socket) -> list[int]:
        """What the warm process has open for itself, which a child closes first."""
        sockets = [self.listener, conn, *(c.conn for c in self.children.values())]
        pidfds = [c.pidfd for c in self.children.values()]
        return [s.fileno() for s in sockets] + pidfds + [self.selector.fileno()]

    def _caller_left(self, child: _Child) -> None:
        """The command closed its end (it was killed): its child goes with it."""
        self.selector.unregister(child.conn)
        with contextlib.suppress(OSError):
            os.killpg(child.pid, signal.SIGKILL)

    def _reap(self, child: _Child) -> None:
        _, status = os.waitpid(child.pid, 0)
        code = os.waitstatus_to_exitcode(status)
        self.selector.unregister(child.pidfd)
        os.close(child.pidfd)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(child.conn)
        with contextlib.suppress(OSError):
            child.conn.send(json.dumps({"exit": code}).encode())
        child.conn.close()
        del self.children[child.pid]
        _say(f"khcn warm: lệnh {child.command} (pid {child.pid}) kết thúc, mã {code}")

    def _stop_children(self) -> None:
        """Stops as `khcn server` does: runs still going are asked to stop, then killed."""
        for child in self.children.values():
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGTERM)
        deadline = time.monotonic() + _STOP_GRACE
        while self.children and time.monotonic() < deadline:
            for key, _ in self.selector.select(timeout=max(0.0, deadline - time.monotonic())):
                if key.fileobj is not self.listener:
                    key.data(key.fileobj)
        for child in list(self.children.values()):
            with contextlib.suppress(OSError):
                os.killpg(child.pid, signal.SIGKILL)
            self._reap(child)


def _child(request: dict[str, Any], fds: list[int], inherited: list[int]) -> NoReturn:
    """The forked child: takes over the caller's streams, folder and environment, runs the
    command, exits with its code (never returns into the warm process's loop)."""
    code = 1
    try:
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        os.setpgid(0, 0)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        (stdin, stdout, stderr) = request["streams"]
        sys.stdin = _text_stream(0, "r", stdin)
        sys.stdout = _text_stream(1, "w", stdout)
        sys.stderr = _text_stream(2, "w", stderr)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        from khcn.cli import app

        app()
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(BaseException):
            atexit._run_exitfuncs()
        with contextlib.suppress(BaseException):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _text_stream(fd: int, mode: Literal["r", "w"], coding: list[str | None]) -> TextIO:
    """A standard stream on `fd` as Python would have made it for the command's process:
    the command's encoding, line-buffered on a terminal (standard error always)."""
    encoding, errors = coding
    return open(  # noqa: SIM115 - the process's standard stream, open until it exits
        fd,
        mode,
        encoding=encoding,
        errors=errors,
        buffering=1 if fd == 2 or os.isatty(fd) else -1,
        closefd=False,
    )


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _die_with_parent() -> None:
    """The warm process ends with the `khcn server` that started it (Linux)."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def listening(path: Path) -> bool:
    """Whether a warm process already listens at `path`."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as probe:
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def _threads() -> int:
    return sum(1 for _ in Path("/proc/self/task").iterdir())


def _raise_stop(signum: int, frame: FrameType | None) -> None:
    raise _Stop


def warm() -> None:
    """`python -m khcn.warm`: import, then serve until stopped."""
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:
        return
    if os.getsid(0) != os.getpid():  # a restart (`serve`) is the session's leader already
        # No terminal: Ctrl-C in the server's terminal is for `khcn server` to handle.
        os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    started = time.monotonic()
    from core.settings import warm_environment

    os.environ.update(warm_environment())  # read by the libraries as they load, below
    for name in WARM_MODULES:
        importlib.import_module(name)
    # What is imported lives as long as the process: the children's garbage collections pass
    # over it no more (nor copy the pages they would have touched).
    gc.collect()
    gc.freeze()
    if _threads() != 1:
        _say("khcn warm: thư viện đã mở thêm luồng khi nạp; không phục vụ (lệnh chạy như thường).")
        return
    folder = runtime_dir()
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private(folder):
        _say(f"khcn warm: {folder} không phải thư mục riêng của người dùng này; không phục vụ.")
        return
    path = socket_path()
    if listening(path):
        _say("khcn warm: một tiến trình khác đang phục vụ; tiến trình này dừng.")
        return
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # left by a warm process that was killed
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    try:
        listener.bind(str(path))  # a socket's path is at most 107 bytes
    except OSError as exc:
        _say(f"khcn warm: không mở được {path} ({exc}); không phục vụ (lệnh chạy như thường).")
        return
    listener.listen(16)
    _say(f"khcn warm: sẵn sàng sau {time.monotonic() - started:.1f} giây ({path})")
    signal.signal(signal.SIGTERM, _raise_stop)
    WarmProcess(listener, path).serve()


if __name__ == "__main__":
    warm()

"""Real mail servers for the tests: Dovecot (IMAP) and aiosmtpd (SMTP), on loopback, with TLS.

Dovecot runs as its own process (`dovecot -F -c CONF`) with its own config, mail folder and
passdb file in a temporary folder; aiosmtpd runs in a thread and keeps every message it was
handed. Both use a self-signed certificate for 127.0.0.1 that the service is told to trust
(`mail_ca_file`), so the tests exercise the same TLS code as production.
"""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import grp
import imaplib
import ipaddress
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import duckdb
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from core.settings import Settings
from schemas.yamlio import read_yaml, write_yaml
from warehouse.publish import published_database

VIETNAM = dt.timezone(dt.timedelta(hours=7))
ADDRESSES = {
    "THON-01": "truongthon1@gmail.com; thon1.nghiahung@gmail.com",
    "THON-02": "thon2.nghiahung@gmail.com",
    "THON-03": "thon3.nghiahung@gmail.com",
}


@dataclass
class Mail:
    imap: Dovecot
    smtp: SmtpServer
    settings: Settings

    def send(
        self,
        sender: str,
        subject: str,
        files: dict[str, bytes],
        arrived: dt.datetime,
        message_id: str | None = None,
    ) -> str:
        """Put a unit's message in the mailbox, as if it had arrived at `arrived`."""
        message = EmailMessage()
        message["From"] = f"Cán bộ thôn <{sender}>"
        message["To"] = "hopthu@nghiahung.example.vn"
        message["Subject"] = subject
        message["Message-ID"] = message_id or make_msgid(domain="gmail.com")
        message.set_content("Kính gửi UBND xã, thôn gửi báo cáo quý.")
        for name, data in files.items():
            message.add_attachment(
                data, maintype="application", subtype="octet-stream", filename=name
            )
        self.imap.append(message, arrived)
        return str(message["Message-ID"])

    def published(self, sql: str) -> list[tuple[object, ...]]:
        path = published_database(self.settings.published)
        with duckdb.connect(str(path), read_only=True) as con:
            return con.execute(sql).fetchall()


def register_addresses(settings: Settings) -> None:
    """Fill the registry's Email column of the test's schema copy with `ADDRESSES`."""
    units = settings.schemas_dir / "units.yaml"
    data = read_yaml(units)
    for unit in data["units"]:
        unit["email"] = ADDRESSES.get(unit["code"], unit["email"])
    write_yaml(units, data, "")


MAILBOX_USER = "hopthu@nghiahung.example.vn"
MAILBOX_PASSWORD = "mat-khau-ung-dung-1"
SMTP_USER = "hopthu@nghiahung.example.vn"
SMTP_PASSWORD = "mat-khau-smtp-2"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def self_signed(folder: Path, label: str) -> tuple[Path, Path]:
    """A certificate and key for 127.0.0.1 and localhost; `label` names its issuer, so two
    such certificates in one CA bundle are told apart."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"khcn test {label}"),
            x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1"),
        ]
    )
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


# ---------------------------------------------------------------------------------------------
# IMAP: Dovecot


@dataclass
class Dovecot:
    folder: Path
    port: int
    ca_file: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"imaps://{MAILBOX_USER.replace('@', '%40')}@127.0.0.1:{self.port}/INBOX"

    @contextmanager
    def session(self) -> Iterator[imaplib.IMAP4_SSL]:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        client = imaplib.IMAP4_SSL("127.0.0.1", self.port, ssl_context=context, timeout=30)
        client.login(MAILBOX_USER, MAILBOX_PASSWORD)
        try:
            yield client
        finally:
            client.logout()

    def append(self, message: EmailMessage, arrived: dt.datetime, folder: str = "INBOX") -> None:
        with self.session() as client:
            status, data = client.append(
                folder, None, imaplib.Time2Internaldate(arrived), message.as_bytes()
            )
            assert status == "OK", data

    def folder_state(self, folder: str) -> list[tuple[int, bytes, bytes]]:
        """(UID, flags, Message-ID header) of every message in a folder."""
        with self.session() as client:
            status, _ = client.select(folder)
            assert status == "OK"
            status, data = client.uid(
                "FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"
            )
            found = []
            for item in data:
                if isinstance(item, tuple):
                    head = item[0]
                    uid = int(head.split(b"UID ")[1].split()[0])
                    flags = head.split(b"FLAGS (")[1].split(b")")[0]
                    found.append((uid, flags, item[1].strip()))
            return found


def _config(folder: Path, port: int, cert: Path, key: Path) -> str:
    root = os.geteuid() == 0
    me = pwd.getpwuid(os.geteuid()).pw_name
    # Dovecot refuses to run its internal and login processes, or read mail, as root: as root
    # it uses the accounts Debian's package made (the mail folder is handed to `dovecot`).
    internal, login, mail_user = ("dovecot", "dovenull", "dovecot") if root else (me, me, me)
    group = "dovecot" if root else grp.getgrgid(os.getegid()).gr_name
    return f"""
base_dir = {folder}/run
state_dir = {folder}/state
log_path = {folder}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = required
ssl_cert = <{cert}
ssl_key = <{key}
auth_mechanisms = plain login
default_internal_user = {internal}
default_internal_group = {group}
default_login_user = {login}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {folder}/passwd
}}
userdb {{
  driver = static
  args = uid={mail_user} gid={pwd.getpwnam(mail_user).pw_gid} home={folder}/home/%u
}}
mail_location = maildir:~/Maildir
namespace inbox {{
  inbox = yes
  separator = /
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    port = 0
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
"""


@contextmanager
def dovecot(folder: Path) -> Iterator[Dovecot]:
    """Dovecot on a free loopback port, with one mailbox, stopped afterwards."""
    binary = shutil.which("dovecot") or "/usr/sbin/dovecot"
    if not Path(binary).is_file():
        raise RuntimeError("Dovecot is missing: `make system` installs dovecot-imapd")
    if os.geteuid() == 0:
        # Dovecot's own accounts must reach the folder; pytest's temporary folders are private.
        with _shared_folder() as shared, _run_dovecot(binary, shared / folder.name) as server:
            yield server
    else:
        with _run_dovecot(binary, folder) as server:
            yield server


@contextmanager
def _run_dovecot(binary: str, folder: Path) -> Iterator[Dovecot]:
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("run", "state", "home"):
        (folder / sub).mkdir()
    cert, key = self_signed(folder, "imap")
    (folder / "passwd").write_text(f"{MAILBOX_USER}:{{PLAIN}}{MAILBOX_PASSWORD}\n")
    if os.geteuid() == 0:
        folder.chmod(0o711)
        shutil.chown(folder / "home", "dovecot", "dovecot")
        shutil.chown(folder / "passwd", "dovecot", "dovecot")
    port = free_port()
    config = folder / "dovecot.conf"
    config.write_text(_config(folder, port, cert, key))
    log = (folder / "stdout.log").open("wb")
    process = subprocess.Popen([binary, "-F", "-c", str(config)], stdout=log, stderr=log)
    server = Dovecot(folder, port, cert, process)
    try:
        _wait_for(lambda: _connects(port), process, folder / "dovecot.log")
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@contextmanager
def _shared_folder() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="khcn-dovecot-"))
    path.chmod(0o711)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def _connects(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _wait_for(ready: Callable[[], bool], process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited: {log.read_text() if log.exists() else ''}")
        if ready():
            return
        time.sleep(0.1)
    raise RuntimeError("server did not start in 60 s")


# ---------------------------------------------------------------------------------------------
# SMTP: aiosmtpd


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    port: int
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    # Called with each message before it is accepted; returning a string refuses it with
    # that SMTP reply (the tests use it to fail a send, or kill the sender mid-send).
    before_accept: Callable[[Received], str | None] | None = None

    def url(self, user: str = SMTP_USER, scheme: str = "smtp") -> str:
        return f"{scheme}://{user.replace('@', '%40')}@127.0.0.1:{self.port}"


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        item = Received(envelope.mail_from, list(envelope.rcpt_tos), parsed)
        if self.server.before_accept is not None:
            refusal = self.server.before_accept(item)
            if refusal:
                return refusal
        self.server.received.append(item)
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(ca_folder: Path, implicit_tls: bool = False) -> Iterator[SmtpServer]:
    """An SMTP server on loopback requiring STARTTLS (or TLS from the first byte, with
    `implicit_tls`) and a login, keeping what it receives."""
    ca_folder.mkdir(parents=True, exist_ok=True)
    cert, key = self_signed(ca_folder, "smtp")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server = SmtpServer(port=free_port())

    def authenticate(
        _server: Any, _session: Any, _envelope: Any, _mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == SMTP_USER
            and auth_data.password.decode() == SMTP_PASSWORD
        )
        if ok:
            server.logins.append(auth_data.login.decode())
        return AuthResult(success=ok)

    tls: dict[str, Any] = (
        # aiosmtpd counts only STARTTLS as TLS for AUTH; with TLS from the first byte every
        # exchange is encrypted anyway.
        {"ssl_context": context, "auth_require_tls": False}
        if implicit_tls
        else {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    )
    controller = Controller(
        _Handler(server),
        hostname="127.0.0.1",
        port=server.port,
        authenticator=authenticate,
        ready_timeout=30,
        server_hostname="127.0.0.1",
        **tls,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


def combined_ca(folder: Path, files: Sequence[Path]) -> Path:
    """One CA bundle trusting both servers' certificates."""
    bundle = folder / "ca.pem"
    bundle.write_bytes(b"".join(f.read_bytes() for f in files))
    return bundle

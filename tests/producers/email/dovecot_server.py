"""A private Dovecot IMAP server for the tests: installed from Debian when missing, own config.

Debian's ``dovecot-imapd`` (``apt-get install -y --no-install-recommends dovecot-imapd``; CI
installs it in ``.ci/run``) is started as a private instance: its own config, base_dir, Maildir
and passwd-file in a temporary folder, on free loopback ports, plain IMAP with STARTTLS and IMAPS
with a throwaway self-signed certificate. Nothing of the machine's own Dovecot (if any) is
touched. Named uniquely because the test folders are no packages (pytest's rootdir imports).
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

APT_INSTALL = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "dovecot-imapd"]
IMAP_USER, IMAP_PASSWORD = "support", "s3cret-for-tests"


def _dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (path for path in ("/usr/sbin/dovecot", "/usr/local/sbin/dovecot") if os.access(path, os.X_OK)), None
    )


def install_dovecot() -> str:
    """Install Debian's dovecot-imapd when it is missing; skip, saying why, only if apt cannot."""
    binary = _dovecot_binary()
    if binary:
        return binary
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip("Dovecot is not installed and apt-get cannot run here: " + " ".join(APT_INSTALL))
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}

    def apt(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(list(command), env=env, capture_output=True, text=True, timeout=600, check=False)

    done = apt(*APT_INSTALL)
    if done.returncode != 0:  # a stale package list: refresh it once and try again
        apt("apt-get", "update", "-q")
        done = apt(*APT_INSTALL)
    binary = _dovecot_binary()
    if not binary:
        pytest.skip(f"installing Dovecot failed ({' '.join(APT_INSTALL)}): {done.stderr[-500:]}")
    return binary


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _certificate(root: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 and localhost (None without openssl)."""
    if not shutil.which("openssl"):
        return None
    cert, key = root / "cert.pem", root / "key.pem"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        capture_output=True, timeout=60, check=False,
    )
    return (cert, key) if done.returncode == 0 else None


@dataclass(frozen=True)
class Dovecot:
    """A running private Dovecot: where to connect and how to deliver messages into it."""

    port: int
    tls_port: int | None
    ca_file: Path | None
    user: str = IMAP_USER
    password: str = IMAP_PASSWORD

    def connect(self) -> imaplib.IMAP4:
        conn = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        conn.login(self.user, self.password)
        return conn

    def new_folder(self) -> str:
        """A fresh, empty folder, so each test reads only its own messages."""
        name = f"t{uuid.uuid4().hex[:10]}"
        conn = self.connect()
        try:
            assert conn.create(name)[0] == "OK"
        finally:
            conn.logout()
        return name

    def deliver(self, folder: str, *messages: bytes, seen: bool = False) -> None:
        """APPEND messages to a folder, as an MTA's delivery would put them there."""
        conn = self.connect()
        try:
            for message in messages:
                status, data = conn.append(folder, "(\\Seen)" if seen else None, None, message)
                assert status == "OK", data
        finally:
            conn.logout()

    def unseen(self, folder: str) -> int:
        """How many messages in the folder lack \\Seen."""
        conn = self.connect()
        try:
            conn.select(folder, readonly=True)
            return len(conn.search(None, "UNSEEN")[1][0].split())
        finally:
            conn.logout()


def _config(root: Path, *, port: int, tls: tuple[int, Path, Path] | None) -> str:
    if os.geteuid() == 0:  # Dovecot will not access mail as root: use Debian's "mail" user
        try:
            account = pwd.getpwnam("mail")
        except KeyError:
            account = pwd.getpwnam("nobody")
        users = ""
    else:  # a rootless instance runs everything as the current user
        account = pwd.getpwuid(os.getuid())
        users = f"default_login_user = {account.pw_name}\ndefault_internal_user = {account.pw_name}\n"
    uid, gid = account.pw_uid, account.pw_gid
    (root / "mail").mkdir()
    os.chown(root / "mail", uid, gid)
    (root / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")
    ssl = "ssl = no\n"
    imaps = "  inet_listener imaps {\n    port = 0\n  }\n"
    if tls:
        tls_port, cert, key = tls
        dh = "ssl_dh = </usr/share/dovecot/dh.pem\n" if Path("/usr/share/dovecot/dh.pem").exists() else ""
        ssl = f"ssl = yes\nssl_cert = <{cert}\nssl_key = <{key}\n{dh}"
        imaps = f"  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {tls_port}\n    ssl = yes\n  }}\n"
    return f"""protocols = imap
listen = 127.0.0.1
base_dir = {root}/run
state_dir = {root}/state
instance_name = tf-test-{port}
log_path = {root}/dovecot.log
{users}{ssl}disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_uid = {uid}
mail_gid = {gid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
{imaps}}}
service anvil {{
  chroot =
}}
"""


def _wait_for(port: int, process: subprocess.Popen[bytes], log: Path, deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"dovecot exited ({process.returncode}): {log.read_text() if log.exists() else ''}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"dovecot did not listen on {port} within {deadline_s} s")


@contextmanager
def running_dovecot() -> Iterator[Dovecot]:
    """Start a private Dovecot, yield where it listens, stop it and remove its files."""
    binary = install_dovecot()
    root = Path(tempfile.mkdtemp(prefix="tf-dovecot-"))  # under /tmp: the mail user must reach it
    os.chmod(root, 0o755)
    port = _free_port()
    cert = _certificate(root)
    tls = (_free_port(), *cert) if cert else None
    conf = root / "dovecot.conf"
    conf.write_text(_config(root, port=port, tls=tls))
    process = subprocess.Popen([binary, "-F", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(port, process, root / "dovecot.log")
        if tls:
            _wait_for(tls[0], process, root / "dovecot.log")
        yield Dovecot(port=port, tls_port=tls[0] if tls else None, ca_file=tls[1] if tls else None)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)

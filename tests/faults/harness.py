"""Real processes for the fault tests: a private ``redis-server``, an SMTP sink and Celery workers.

Every process is started here and stopped here by its own process id; the shared Redis (6379) is never touched.
"""

from __future__ import annotations

import asyncio
import email
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from aiosmtpd.controller import Controller

PROJECT_DIR = Path(__file__).resolve().parents[2]
CELERY = Path(sys.executable).with_name("celery")
WAIT_SECONDS = 30.0
# The shortest lease the settings allow: a killed delivery is reaped after this long.
LEASE_SECONDS = 10


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(condition: Callable[[], Any], timeout: float = WAIT_SECONDS, interval: float = 0.1) -> bool:
    """A bounded poll: True as soon as ``condition()`` holds, False when ``timeout`` seconds have passed."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM, grace: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    os.kill(process.pid, sig)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=grace)


class RedisServer:
    """A private redis-server on a free loopback port, without persistence (a restart loses every message)."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.port = free_port()
        assert self.port != 6379, "never the shared Redis"
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=5)

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None, "already running"
        self.starts += 1
        with open(self.workdir / f"redis-{self.starts}.log", "wb") as log:
            self.process = subprocess.Popen(
                [
                    "redis-server",
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    str(self.workdir),
                    "--daemonize",
                    "no",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if not wait_for(self.answers, timeout=10):
            self.stop()
            raise RuntimeError(f"redis-server did not answer on port {self.port}")

    def answers(self) -> bool:
        try:
            with self._client() as client:
                return bool(client.ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        _stop(self.process)

    def queued(self) -> int:
        """Messages waiting in the queue (Celery's default queue is a Redis list named after it)."""
        with self._client() as client:
            return int(client.llen("celery"))

    def unacked(self) -> int:
        """Messages a worker took and has not acknowledged (acks_late: kept until the task returns)."""
        with self._client() as client:
            return int(client.hlen("unacked"))


class Mailbox:
    """An SMTP sink recording every accepted message as (recipient, body). With ``hold_first`` the first
    message is held in DATA (the worker is inside ``send``) until ``release`` is set; a client that dies
    meanwhile gets nothing accepted, as with a real mail server."""

    def __init__(self, *, hold_first: bool = False) -> None:
        self.hold_first = hold_first
        self.holding = threading.Event()
        self.release = threading.Event()
        self.accepted: list[tuple[str, str]] = []
        self.dropped = 0
        self.port = 0
        self._held = False
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        if self.hold_first and not self._held:
            self._held = True
            self.holding.set()
            try:
                while not self.release.is_set():
                    await asyncio.sleep(0.05)
            except asyncio.CancelledError:  # aiosmtpd cancels the handler when the client's connection is lost
                with self._lock:
                    self.dropped += 1
                raise
            if server.transport is None or server.transport.is_closing():
                with self._lock:
                    self.dropped += 1
                return "421 Connection lost before the message was accepted"
        message = email.message_from_bytes(envelope.content)
        body = message.get_payload(decode=True).decode(message.get_content_charset() or "utf-8")
        with self._lock:
            for recipient in envelope.rcpt_tos:
                self.accepted.append((recipient, body.replace("\r\n", "\n").removesuffix("\n")))
        return "250 Message accepted for delivery"

    def count(self) -> int:
        with self._lock:
            return len(self.accepted)

    def counts(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter(self.accepted)


class SmtpServer:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox
        self.port = mailbox.port = free_port()
        self.controller = Controller(mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> None:
        self._log_level = logging.getLogger("mail.log").level
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
        self.controller.start()

    def stop(self) -> None:
        self.mailbox.release.set()
        self.controller.stop()
        logging.getLogger("mail.log").setLevel(self._log_level)


def database_url(settings_dict: dict[str, Any]) -> str:
    """The URL of the database this test process uses (the test database), for the worker processes."""
    user = quote(settings_dict.get("USER") or "", safe="")
    password = quote(settings_dict.get("PASSWORD") or "", safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = f":{settings_dict['PORT']}" if settings_dict.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(settings_dict['NAME'], safe='')}"


def worker_environment(*, database: str, broker: str, smtp_port: int) -> dict[str, str]:
    """A clean environment: nothing of this process's configuration leaks into the worker but what is here."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "LANG": "C.UTF-8",
        "PYTHONUNBUFFERED": "1",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": broker,
        "SECRET_KEY": "fault-tests-only-secret-key-0123456789abcdefghijklmnopqrstuv",
        "DJANGO_DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(smtp_port),
        # Longer than any hold in these tests: a held send ends by the test's release or the worker's death.
        "EMAIL_TIMEOUT": "30",
        "IVIG_DELIVERY_LEASE_SECONDS": str(LEASE_SECONDS),
        "IVIG_VAR_DIR": "var/test-faults",
        "LOG_LEVEL": "INFO",
    }


class Worker:
    """``celery worker`` in a subprocess, logging to a file; stopped (or killed) by its process id."""

    def __init__(self, name: str, env: dict[str, str], logdir: Path, *, pool: str = "solo", concurrency: int = 1):
        self.name = name
        self.env = env
        self.log_path = logdir / f"worker-{name}.log"
        self.pool = pool
        self.concurrency = concurrency
        self.process: subprocess.Popen[bytes] | None = None
        self.children: set[int] = set()

    def start(self) -> Worker:
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(CELERY),
                    "-A",
                    "ivig_tracker",
                    "worker",
                    f"--pool={self.pool}",
                    f"--concurrency={self.concurrency}",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                    "-Q",
                    "celery",
                    "--loglevel=INFO",
                    "-n",
                    f"fault-{self.name}-{os.getpid()}@%h",
                ],
                cwd=PROJECT_DIR,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if not wait_for(lambda: " ready." in self.log() or self.process.poll() is not None):
            self.stop()
            raise RuntimeError(f"worker {self.name} did not become ready:\n{self.log()[-3000:]}")
        if self.process.poll() is not None:
            raise RuntimeError(f"worker {self.name} exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        if self.pool == "prefork":
            wait_for(lambda: len(self.pool_processes()) == self.concurrency, timeout=10)
        return self

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def outcomes(self) -> Counter[str]:
        """What each ``deliver`` task returned, from the worker's "succeeded" log lines."""
        returned: Counter[str] = Counter()
        for line in self.log().splitlines():
            if "monitoring.tasks.deliver[" in line and " succeeded in " in line:
                returned[line.rsplit(": ", 1)[1].strip("'")] += 1
        return returned

    def pool_processes(self) -> list[int]:
        """The prefork pool's child processes (their ids, from /proc)."""
        if self.process is None or self.process.poll() is not None:
            return []
        try:
            text = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text()
        except OSError:
            return []
        pids = [int(pid) for pid in text.split()]
        self.children.update(pids)
        return pids

    def kill(self) -> None:
        """SIGKILL the worker process itself (a crash or the OOM killer): nothing is acknowledged."""
        assert self.process is not None and self.process.poll() is None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """A warm shutdown (SIGTERM), SIGKILL after a grace period; then any pool child left behind."""
        self.pool_processes()
        _stop(self.process)
        for pid in self.children:
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue  # gone
            if b"celery" in command and b"ivig_tracker" in command:  # still ours, not a reused process id
                os.kill(pid, signal.SIGKILL)

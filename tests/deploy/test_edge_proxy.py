"""The web service behind nginx, checked offline (no Docker here): nginx accepts deploy/nginx/nginx.conf as it is
(nginx -t), the limits in it match the application's, and docker-compose.yml publishes nginx, never gunicorn."""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import ssl
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
NGINX_CONF = ROOT / "deploy" / "nginx" / "nginx.conf"


def directives(name: str) -> list[str]:
    """The values of every ``name ...;`` directive in nginx.conf, comments left out."""
    text = "\n".join(line.split("#", 1)[0] for line in NGINX_CONF.read_text().splitlines())
    return [value.strip() for value in re.findall(rf"^\s*{re.escape(name)}\s+([^;]*);", text, re.MULTILINE)]


def seconds(value: str) -> int:
    return int(value.removesuffix("s"))


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def gunicorn_option(name: str) -> str:
    command = compose()["services"]["web"]["command"]
    values = [arg.split("=", 1)[1] for arg in command if arg.startswith(f"--{name}=")]
    assert len(values) == 1, command
    return values[0]


def write_self_signed_certificate(directory: Path) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ivig.localhost")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    directory.mkdir()
    (directory / "fullchain.pem").write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    (directory / "privkey.pem").write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )


@pytest.mark.nginx
def test_nginx_accepts_the_configuration_as_it_is_deployed(tmp_path):
    # As in the container: the file beside a tls/ directory holding the site's certificate.
    shutil.copy(NGINX_CONF, tmp_path / "nginx.conf")
    write_self_signed_certificate(tmp_path / "tls")
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    assert nginx is not None

    result = subprocess.run(
        [nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", f"{tmp_path}/"],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_nginx_refuses_a_body_larger_than_the_application_reads():
    (limit,) = directives("client_max_body_size")
    assert limit.endswith("k")
    assert int(limit.removesuffix("k")) * 1024 == settings.DATA_UPLOAD_MAX_MEMORY_SIZE


def test_nginx_buffers_whole_requests_and_answers_and_times_out_slow_clients():
    assert directives("proxy_request_buffering") == ["on"]
    assert directives("proxy_buffering") == ["on"]
    assert 0 < seconds(*directives("client_header_timeout")) <= 15
    assert 0 < seconds(*directives("client_body_timeout")) <= 30
    assert 0 < seconds(*directives("send_timeout")) <= 60


def test_gunicorn_ends_a_stuck_request_before_nginx_stops_waiting_for_it():
    gunicorn_timeout = int(gunicorn_option("timeout"))
    assert int(gunicorn_option("graceful-timeout")) > 0
    assert seconds(*directives("proxy_read_timeout")) > gunicorn_timeout
    assert int(gunicorn_option("workers")) >= 2


def test_nginx_sets_the_forwarded_headers_itself_rather_than_passing_the_clients_on():
    headers = dict(value.split(None, 1) for value in directives("proxy_set_header"))
    assert headers["X-Forwarded-Proto"] == "$scheme"
    assert headers["X-Forwarded-For"] == "$remote_addr"
    assert headers["X-Forwarded-Host"] == "$host"
    assert headers["Forwarded"] == '""'


def test_compose_publishes_nginx_and_never_gunicorn():
    services = compose()["services"]
    assert "ports" not in services["web"]
    assert services["web"]["expose"] == ["8000"]
    assert sorted(services["nginx"]["ports"]) == ["${HTTPS_PORT:-443}:443", "${HTTP_PORT:-80}:80"]
    assert "./deploy/nginx/nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    published = {name for name, service in services.items() if service.get("ports")}
    assert published == {"nginx", "hl7"}  # the MLLP listener guards its own connections


def test_web_trusts_forwarded_headers_from_nginxs_network_only():
    document = compose()
    subnet = document["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert document["services"]["web"]["environment"]["TRUSTED_PROXIES"] == subnet
    assert document["services"]["nginx"]["networks"] == ["edge"]
    assert sorted(document["services"]["web"]["networks"]) == ["default", "edge"]
    assert document["services"]["web"]["environment"]["BEHIND_TLS_PROXY"] == "${BEHIND_TLS_PROXY:-true}"


# --- The shipped configuration, run: slow clients do not reach the single sync worker behind it -------------------


class OneSyncWorker(http.server.HTTPServer):
    """Like one gunicorn sync worker: one request at a time, from its first byte to its last."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), OneSyncWorkerHandler)
        self.requests: list[tuple[str, str, str]] = []


class OneSyncWorkerHandler(http.server.BaseHTTPRequestHandler):
    server: OneSyncWorker

    def do_GET(self) -> None:
        self.answer(b"")

    def do_POST(self) -> None:
        self.answer(self.rfile.read(int(self.headers.get("Content-Length", 0))))

    def answer(self, body: bytes) -> None:
        self.server.requests.append((self.command, self.path, self.headers.get("X-Forwarded-Proto", "")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def nginx_in_front_of_one_worker(tmp_path):
    """The shipped nginx.conf on loopback ports, proxying to one sync worker instead of web:8000 (only the ports,
    the upstream's address and the pid file differ from the deployed file)."""
    worker = OneSyncWorker()
    threading.Thread(target=worker.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    https_port, http_port = free_port(), free_port()
    conf = NGINX_CONF.read_text()
    for deployed, here in [
        ("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;"),
        ("listen 443 ssl default_server;", f"listen 127.0.0.1:{https_port} ssl default_server;"),
        ("set $web http://web:8000;", f"set $web http://127.0.0.1:{worker.server_address[1]};"),
        ("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;"),
        ("access_log /dev/stdout;", "access_log off;"),
    ]:
        assert deployed in conf
        conf = conf.replace(deployed, here)
    (tmp_path / "nginx.conf").write_text(conf)
    write_self_signed_certificate(tmp_path / "tls")
    nginx = shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin")
    assert nginx is not None
    process = subprocess.Popen(
        [nginx, "-c", str(tmp_path / "nginx.conf"), "-p", f"{tmp_path}/", "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", https_port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read() if process.stderr else ""
                assert time.monotonic() < deadline, "nginx did not start"
                time.sleep(0.1)
        yield https_port, worker
    finally:
        process.terminate()
        process.wait(timeout=10)
        worker.shutdown()
        worker.server_close()


def tls_connection(port: int) -> ssl.SSLSocket:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the test's own self-signed certificate
    return context.wrap_socket(socket.create_connection(("127.0.0.1", port), timeout=10))


@pytest.mark.nginx
def test_six_slow_clients_do_not_hold_the_worker_and_a_normal_request_is_answered_at_once(
    nginx_in_front_of_one_worker,
):
    https_port, worker = nginx_in_front_of_one_worker
    slow_clients = []
    for number in range(6):  # each announces 1000 bytes and sends them a few at a time
        client = tls_connection(https_port)
        client.sendall(
            f"POST /slow/{number} HTTP/1.1\r\nHost: ivig.localhost\r\nContent-Length: 1000\r\n\r\n".encode() + b"x" * 10
        )
        slow_clients.append(client)
    try:
        for _ in range(3):
            time.sleep(0.5)
            for client in slow_clients:
                client.sendall(b"x" * 10)

        started = time.monotonic()
        normal = tls_connection(https_port)
        normal.sendall(b"GET /healthz HTTP/1.1\r\nHost: ivig.localhost\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := normal.recv(4096):
            answer += chunk
        took = time.monotonic() - started
        normal.close()

        assert answer.startswith(b"HTTP/1.1 200")
        assert took < 2
        # The worker saw the normal request only, told it came over HTTPS; the slow bodies are still at nginx.
        assert worker.requests == [("GET", "/healthz", "https")]
    finally:
        for client in slow_clients:
            client.close()


@pytest.mark.nginx
def test_a_body_over_the_applications_limit_is_refused_by_nginx_without_reaching_the_worker(
    nginx_in_front_of_one_worker,
):
    https_port, worker = nginx_in_front_of_one_worker
    client = tls_connection(https_port)
    too_large = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1
    client.sendall(
        f"POST /api/v1/hl7/oru/ HTTP/1.1\r\nHost: ivig.localhost\r\nContent-Length: {too_large}\r\n"
        "Connection: close\r\n\r\n".encode()
    )
    answer = client.recv(4096)
    client.close()

    assert answer.startswith(b"HTTP/1.1 413")
    assert worker.requests == []

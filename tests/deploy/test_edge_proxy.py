"""The web service behind nginx, checked offline (no Docker here): nginx accepts deploy/nginx/nginx.conf as it is
(nginx -t), the limits in it match the application's, and docker-compose.yml publishes nginx, never gunicorn."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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

"""Settings are read once per process, so the whole-module behaviour is tested in fresh interpreters."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def run_check(extra_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SECRET_KEY", "SECURE_", "ALLOWED"))}
    env.pop("SESSION_COOKIE_SECURE", None)
    env.pop("CSRF_COOKIE_SECURE", None)
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def test_production_without_a_secret_key_refuses_to_start() -> None:
    result = run_check({"DJANGO_DEBUG": "false"})
    assert result.returncode != 0
    assert "SECRET_KEY is required when DJANGO_DEBUG is off" in result.stderr


def test_a_malformed_value_stops_start_up_with_its_name() -> None:
    result = run_check({"DJANGO_DEBUG": "true", "HOSPITAL_TIME_ZONE": "Nowhere/Land"})
    assert result.returncode != 0
    assert "HOSPITAL_TIME_ZONE='Nowhere/Land' is not an IANA time zone" in result.stderr


def test_production_settings_pass_check_deploy_without_warnings() -> None:
    result = run_check(
        {
            "DJANGO_DEBUG": "false",
            "SECRET_KEY": "x7$kq!prod-like-secret-key-with-enough-entropy-4f9a2c81d3e6b05a7f",
            "ALLOWED_HOSTS": "ivig.hospital.example",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr + result.stdout
    assert "System check identified no issues" in result.stdout


def test_a_safety_stop_number_out_of_range_stops_start_up_with_its_name() -> None:
    result = run_check({"DJANGO_DEBUG": "true", "IVIG_SAFETY_MIN_HOURS_BETWEEN_DAYS": "0"})
    assert result.returncode != 0
    assert "IVIG_SAFETY_MIN_HOURS_BETWEEN_DAYS=0 is below the minimum 1" in result.stderr


def test_a_hospital_sets_a_safety_stop_number_from_the_environment() -> None:
    env = {"DJANGO_DEBUG": "true", "IVIG_SAFETY_HIGH_DOSE_ABOVE_G": "120"}
    script = "from infusions.services.safety import safety_config; print(safety_config().high_dose_above_g)"
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", script],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")}, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip().splitlines()[-1] == "120", result.stderr  # shell may print its imports first


def test_a_webhook_url_without_a_scheme_stops_start_up_with_its_name() -> None:
    result = run_check(
        {"DJANGO_DEBUG": "true", "IVIG_WEBHOOK_URL": "hooks.example.org/ivig", "IVIG_WEBHOOK_SECRET": "s3cret"}
    )
    assert result.returncode != 0
    assert "IVIG_WEBHOOK_URL: 'hooks.example.org/ivig' has no http:// or https:// scheme" in result.stderr


@pytest.mark.parametrize(
    "variable, value, message",
    [
        ("IVIG_API_THROTTLE_USER", "600 per minute", "IVIG_API_THROTTLE_USER must be like 600/minute"),
        ("IVIG_LOGIN_LOCKOUT_PARAMETERS", "user_agent", "IVIG_LOGIN_LOCKOUT_PARAMETERS must be username, ip_address"),
        ("CACHE_URL", "memcached://cache:11211", "CACHE_URL must be a redis:// or rediss:// URL"),
    ],
)
def test_a_malformed_sign_in_or_throttle_setting_stops_start_up_with_its_name(variable, value, message) -> None:
    result = run_check({"DJANGO_DEBUG": "true", variable: value})
    assert result.returncode != 0
    assert message in result.stderr


PRODUCTION = {
    "DJANGO_DEBUG": "false",
    "SECRET_KEY": "x7$kq!prod-like-secret-key-with-enough-entropy-4f9a2c81d3e6b05a7f",
    "ALLOWED_HOSTS": "ivig.hospital.example",
}


def test_production_refuses_to_start_with_two_factor_sign_in_off() -> None:
    result = run_check({**PRODUCTION, "IVIG_TWO_FACTOR": "off"})
    assert result.returncode != 0
    assert "IVIG_TWO_FACTOR=off is only allowed with DJANGO_DEBUG=true" in result.stderr


def test_an_unknown_two_factor_role_stops_start_up_with_its_name() -> None:
    result = run_check({"DJANGO_DEBUG": "true", "IVIG_TWO_FACTOR_ROLES": "pharmacist,porter"})
    assert result.returncode != 0
    assert "IVIG_TWO_FACTOR_ROLES: unknown role(s) porter" in result.stderr


def test_single_sign_on_without_a_group_mapping_stops_start_up() -> None:
    result = run_check(
        {
            "DJANGO_DEBUG": "true",
            "OIDC_RP_CLIENT_ID": "ivig",
            "OIDC_RP_CLIENT_SECRET": "s3cret",
            "OIDC_OP_DISCOVERY_ENDPOINT": "https://login.hospital.example/.well-known/openid-configuration",
        }
    )
    assert result.returncode != 0
    assert "IVIG_OIDC_GROUP_ROLES is required when OIDC_RP_CLIENT_ID is set" in result.stderr


def test_a_malformed_group_mapping_stops_start_up_with_the_reason() -> None:
    result = run_check({"DJANGO_DEBUG": "true", "IVIG_OIDC_GROUP_ROLES": "ivig-nurses=nurse,ivig-it=admin"})
    assert result.returncode != 0
    assert "IVIG_OIDC_GROUP_ROLES: 'ivig-it=admin' names no clinical role" in result.stderr


def test_production_with_single_sign_on_configured_passes_check_deploy() -> None:
    result = run_check(
        {
            **PRODUCTION,
            "OIDC_RP_CLIENT_ID": "ivig",
            "OIDC_RP_CLIENT_SECRET": "s3cret",
            "OIDC_OP_DISCOVERY_ENDPOINT": "https://login.hospital.example/.well-known/openid-configuration",
            "IVIG_OIDC_GROUP_ROLES": "ivig-nurses=nurse,ivig-haem=hematologist,ivig-pharm=pharmacist",
        },
        "--deploy",
        "--fail-level",
        "WARNING",
    )
    assert result.returncode == 0, result.stderr + result.stdout

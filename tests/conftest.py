"""Shared fixtures, and the rule that a test needing PostgreSQL, Redis or chromium skips (with the reason) on a
bare machine but fails under CI (IVIG_REQUIRE_SERVICES=1), where those services must be there."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings as hypothesis_settings

# Hypothesis profiles. "ci" keeps Hypothesis's defaults (100 examples a property), as before profiles existed;
# "dev" halves them for quick local runs. Chosen by HYPOTHESIS_PROFILE, else "ci" when CI is set, else "dev".
# A property that sets its own max_examples (the rule modules' 200 and 300) keeps it under either profile.
hypothesis_settings.register_profile("ci", max_examples=100)
hypothesis_settings.register_profile("dev", max_examples=50)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if os.environ.get("CI") else "dev"))

REQUIRE_SERVICES = os.environ.get("IVIG_REQUIRE_SERVICES", "") in {"1", "true", "yes"}
# The reason tests/interop/test_hl7_real.py gives when the shared folder of real HL7 messages is absent.
SHARED_CORPUS_ABSENT = "the shared folder of real HL7 messages is not at"
CHROMIUM = os.environ.get("IVIG_CHROMIUM", "/usr/bin/chromium")


def _postgres_missing() -> str | None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return "needs PostgreSQL: set DATABASE_URL=postgres://postgres@127.0.0.1:5432/ivig"
    return None


def _redis_missing() -> str | None:
    from django.conf import settings

    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return "needs Redis: set CELERY_BROKER_URL=redis://127.0.0.1:6379/5"
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        return f"needs Redis at {url}: {exc}"
    return None


def _browser_missing() -> str | None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"needs Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "needs the playwright Python package"
    return None


def _nginx_missing() -> str | None:
    if not shutil.which("nginx", path=os.environ.get("PATH", "") + ":/usr/sbin"):
        return "needs nginx to check deploy/nginx/nginx.conf (apt-get install nginx-light)"
    return None


SERVICE_CHECKS: dict[str, Callable[[], str | None]] = {
    "postgres": _postgres_missing,
    "redis": _redis_missing,
    "worker": _redis_missing,
    "fault": _redis_missing,
    "browser": _browser_missing,
    "nginx": _nginx_missing,
}


def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker, check in SERVICE_CHECKS.items():
        if item.get_closest_marker(marker) is None:
            continue
        missing = check()
        if missing:
            if REQUIRE_SERVICES:
                pytest.fail(f"IVIG_REQUIRE_SERVICES is set but this test {missing}", pytrace=False)
            pytest.skip(missing)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not REQUIRE_SERVICES:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    # The real laboratories' messages live beside the repository, not in it (their sources' licences stay theirs):
    # a checkout without that folder skips their tests, saying so, and that is the one skip CI allows.
    skipped = len(
        [
            r
            for r in (reporter.stats.get("skipped", []) if reporter else [])
            if SHARED_CORPUS_ABSENT not in str(r.longrepr)
        ]
    )
    if skipped:
        # Under CI a skip hides a missing service or a broken environment: treat it as a failure.
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        if reporter:
            reporter.write_line(f"IVIG_REQUIRE_SERVICES: {skipped} test(s) skipped; CI allows none.", red=True)


def give_second_factor(client: Any, user: Any) -> None:
    """Marks the client's signed-in session as having given its second factor, with a real confirmed device and
    django-otp's own session key, exactly as the verify page does after a right code."""
    from django_otp import DEVICE_ID_SESSION_KEY

    from core.two_factor import must_use_two_factor
    from tests.factories import authenticator_for

    if not must_use_two_factor(user):
        return
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = authenticator_for(user).persistent_id
    session.save()


@pytest.fixture(autouse=True)
def force_login_means_fully_signed_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """client.force_login stands for a finished sign-in: password and, for the roles that must use two-factor
    sign-in, the second factor (give_second_factor). The requirement itself stays on: client.login() and the login
    page give the password only, and tests/core/test_two_factor.py walks the real steps."""
    from django.test.client import ClientMixin

    original = ClientMixin.force_login

    def force_login(self: Any, user: Any, backend: str | None = None) -> None:
        original(self, user, backend)
        give_second_factor(self, user)

    monkeypatch.setattr(ClientMixin, "force_login", force_login)


@pytest.fixture
def api_client() -> Any:
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def role_user(db: Any) -> Callable[..., Any]:
    from tests.factories import UserFactory

    def make(role: str | None, **kwargs: Any) -> Any:
        return UserFactory(role=role, **kwargs)

    return make


@pytest.fixture
def nurse(role_user: Callable[..., Any]) -> Any:
    return role_user("nurse", username="nurse1")


@pytest.fixture
def hematologist(role_user: Callable[..., Any]) -> Any:
    return role_user("hematologist", username="haem1")


@pytest.fixture
def second_hematologist(role_user: Callable[..., Any]) -> Any:
    return role_user("hematologist", username="haem2")


@pytest.fixture
def pharmacist(role_user: Callable[..., Any]) -> Any:
    return role_user("pharmacist", username="pharm1")


@pytest.fixture
def client_for(api_client: Any) -> Callable[[Any], Any]:
    """An API client authenticated with the user's token, as an integrator would call us."""
    from rest_framework.test import APIClient

    from core.tokens import issue_token

    issued: dict[int, str] = {}  # one token per user, as one integration holds one

    def make(user: Any) -> Any:
        if user.pk not in issued:
            issued[user.pk] = issue_token(user)[1]
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {issued[user.pk]}")
        return client

    return make


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # PBKDF2's deliberate slowness protects stored passwords, not tests; each test user would cost ~0.3 s.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


PROJECT_APPS = ("ivig_tracker", "patients", "infusions", "monitoring")


def restore_reference_data() -> None:
    """Re-run our data migrations (role groups and their permissions, the product catalogue). A transactional
    test flushes every table, and the next one needs the rows a real deployment gets from ``migrate``."""
    import importlib
    import pkgutil

    from django.apps import apps
    from django.db import migrations

    for label in PROJECT_APPS:
        package = importlib.import_module(f"{label}.migrations")
        for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
            module = importlib.import_module(f"{label}.migrations.{module_info.name}")
            for operation in module.Migration.operations:
                if isinstance(operation, migrations.RunPython):
                    operation.code(apps, None)


@pytest.fixture(autouse=True)
def _reference_data_in_transactional_tests(request: pytest.FixtureRequest) -> None:
    marker = request.node.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        request.getfixturevalue("transactional_db")
        restore_reference_data()


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    # The pharmacy dashboard caches its monthly totals; ids and months repeat between tests.
    from django.core.cache import cache

    cache.clear()

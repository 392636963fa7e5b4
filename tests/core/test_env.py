from __future__ import annotations

import re
from decimal import Decimal

import pytest

from core.env import Env, SettingsError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("raw, expected", [("true", True), ("1", True), ("YES", True), ("off", False), ("0", False)])
def test_booleans_accept_the_usual_spellings(raw: str, expected: bool) -> None:
    assert Env({"FLAG": raw}).bool("FLAG") is expected


def test_a_misspelt_boolean_fails_loudly_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="DJANGO_DEBUG='ture' is not a boolean"):
        Env({"DJANGO_DEBUG": "ture"}).bool("DJANGO_DEBUG", False)


def test_a_missing_required_value_names_the_variable() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY is required"):
        Env({}).str("SECRET_KEY")


def test_an_empty_value_counts_as_unset() -> None:
    assert Env({"ALLOWED_HOSTS": "  "}).list("ALLOWED_HOSTS", ["x"]) == ["x"]


def test_lists_split_on_commas_and_refuse_blank_items() -> None:
    assert Env({"HOSTS": "a.org, b.org"}).list("HOSTS") == ["a.org", "b.org"]
    with pytest.raises(SettingsError, match="empty item"):
        Env({"HOSTS": "a.org,,b.org"}).list("HOSTS")


def test_integers_are_parsed_and_bounded() -> None:
    assert Env({"PORT": "2525"}).int("PORT") == 2525
    with pytest.raises(SettingsError, match="not an integer"):
        Env({"PORT": "25x"}).int("PORT")
    with pytest.raises(SettingsError, match="below the minimum 1"):
        Env({"PORT": "0"}).int("PORT", minimum=1)


def test_decimals_are_parsed_and_non_numbers_refused() -> None:
    assert Env({"CUTOFF": "7.5"}).decimal("CUTOFF") == Decimal("7.5")
    with pytest.raises(SettingsError, match="not a number"):
        Env({"CUTOFF": "seven"}).decimal("CUTOFF")
    with pytest.raises(SettingsError, match="not a finite number"):
        Env({"CUTOFF": "NaN"}).decimal("CUTOFF")


def test_database_urls_default_to_sqlite_and_parse_postgres() -> None:
    assert Env({}).database("DATABASE_URL", "sqlite:////tmp/x.sqlite3")["ENGINE"].endswith("sqlite3")
    config = Env({"DATABASE_URL": "postgres://postgres@127.0.0.1:5432/ivig"}).database("DATABASE_URL", "sqlite://")
    assert (config["ENGINE"], config["NAME"], config["HOST"], config["PORT"]) == (
        "django.db.backends.postgresql",
        "ivig",
        "127.0.0.1",
        5432,
    )


@pytest.mark.parametrize("url", ["mysql://root@localhost/x", "postgres://host:5432/", "not a url"])
def test_unsupported_or_malformed_database_urls_fail_loudly(url: str) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        Env({"DATABASE_URL": url}).database("DATABASE_URL", "sqlite://")


def test_broker_urls_must_be_redis_or_filesystem() -> None:
    assert Env({"B": "redis://127.0.0.1:6379/0"}).broker_url("B", "filesystem://") == "redis://127.0.0.1:6379/0"
    assert Env({}).broker_url("B", "filesystem://") == "filesystem://"
    with pytest.raises(SettingsError, match="must be a redis://"):
        Env({"B": "amqp://guest@localhost//"}).broker_url("B", "filesystem://")


def test_time_zones_must_be_iana_names() -> None:
    assert Env({"TZ_": "Europe/London"}).timezone("TZ_") == "Europe/London"
    with pytest.raises(SettingsError, match="not an IANA time zone"):
        Env({"TZ_": "Mars/Olympus"}).timezone("TZ_")


def test_secrets_can_come_from_a_file(tmp_path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret-from-file\n")
    assert Env({"SECRET_KEY_FILE": str(secret)}).str("SECRET_KEY") == "s3cret-from-file"
    with pytest.raises(SettingsError, match="cannot be read"):
        Env({"SECRET_KEY_FILE": str(tmp_path / "missing")}).str("SECRET_KEY")


@pytest.mark.parametrize("url", ["https://hooks.example.org/ivig", "http://10.0.0.5:8080/hook"])
def test_http_urls_with_a_scheme_and_host_are_taken_as_given(url: str) -> None:
    assert Env({"HOOK": url}).http_url("HOOK", "") == url


def test_an_unset_http_url_is_its_default() -> None:
    assert Env({}).http_url("HOOK", "") == ""


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("hooks.example.org/ivig", "has no http:// or https:// scheme"),
        ("ftp://hooks.example.org/ivig", "has no http:// or https:// scheme"),
        ("https:///ivig", "names no host"),
        ("https://hooks.example.org:port/ivig", "is not a URL"),
    ],
)
def test_an_http_url_without_a_scheme_or_host_fails_loudly_naming_the_variable(url: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=f"^HOOK: '{re.escape(url)}' {problem}"):
        Env({"HOOK": url}).http_url("HOOK", "")


def test_without_a_cache_url_every_process_on_the_host_shares_a_file_cache(tmp_path) -> None:
    assert Env({}).cache("CACHE_URL", tmp_path / "cache") == {
        "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
        "LOCATION": str(tmp_path / "cache"),
    }


def test_a_redis_cache_url_configures_django_s_redis_cache(tmp_path) -> None:
    assert Env({"CACHE_URL": "redis://redis:6379/1"}).cache("CACHE_URL", tmp_path) == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": "redis://redis:6379/1",
    }


def test_a_cache_url_that_is_not_redis_fails_loudly_naming_the_variable(tmp_path) -> None:
    with pytest.raises(SettingsError, match="CACHE_URL must be a redis:// or rediss:// URL"):
        Env({"CACHE_URL": "memcached://cache:11211"}).cache("CACHE_URL", tmp_path)

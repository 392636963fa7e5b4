"""Settings from the environment, through one strict reader.

A hospital deploys by environment variables; a typo must stop the process at start-up with the variable's
name, never run with a silently different value (``DJANGO_DEBUG=ture`` must not mean "off"). Secrets may come
from a file named by ``<NAME>_FILE`` (Docker and Kubernetes secrets).
"""

from __future__ import annotations

import builtins
import os
import urllib.parse
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

_MISSING: Any = object()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


class SettingsError(ImproperlyConfigured):
    """A malformed or missing environment variable; the message names it."""


def http_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be posted to, in words for whoever configures it, or None when it can: an http:// or
    https:// URL naming a host (``hooks.example.org/ivig`` has no scheme and would fail every request)."""
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018  # reading it raises ValueError when the port is not a number
    except ValueError as exc:
        return f"{url!r} is not a URL ({exc})."
    if parts.scheme not in ("http", "https"):
        return f"{url!r} has no http:// or https:// scheme: give the full URL, such as https://host/path."
    if not parts.hostname:
        return f"{url!r} names no host: give the full URL, such as https://host/path."
    return None


class Env:
    # The getters are named after the types they return (env.str, env.int...), which shadows those builtins in
    # the class body: annotations below spell them builtins.str and builtins.int.
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.environ = os.environ if environ is None else environ

    def _raw(self, name: str) -> str | None:
        file_name = self.environ.get(f"{name}_FILE")
        if file_name:
            try:
                return Path(file_name).read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise SettingsError(f"{name}_FILE={file_name!r} cannot be read: {exc}") from exc
        value = self.environ.get(name)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def _default(self, name: str, default: Any) -> Any:
        if default is _MISSING:
            raise SettingsError(f"{name} is required but not set")
        return default

    def str(self, name: str, default: Any = _MISSING) -> Any:
        raw = self._raw(name)
        return self._default(name, default) if raw is None else raw

    def bool(self, name: builtins.str, default: Any = _MISSING) -> Any:
        raw = self._raw(name)
        if raw is None:
            return self._default(name, default)
        lowered = raw.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise SettingsError(f"{name}={raw!r} is not a boolean (use true/false, 1/0, yes/no, on/off)")

    def int(self, name: builtins.str, default: Any = _MISSING, *, minimum: builtins.int | None = None) -> Any:
        raw = self._raw(name)
        if raw is None:
            return self._default(name, default)
        try:
            value = int(raw)
        except ValueError as exc:
            raise SettingsError(f"{name}={raw!r} is not an integer") from exc
        if minimum is not None and value < minimum:
            raise SettingsError(f"{name}={value} is below the minimum {minimum}")
        return value

    def decimal(self, name: builtins.str, default: Any = _MISSING) -> Any:
        raw = self._raw(name)
        if raw is None:
            return self._default(name, default)
        try:
            value = Decimal(raw)
        except InvalidOperation as exc:
            raise SettingsError(f"{name}={raw!r} is not a number") from exc
        if not value.is_finite():
            raise SettingsError(f"{name}={raw!r} is not a finite number")
        return value

    def list(self, name: builtins.str, default: Any = _MISSING) -> Any:
        raw = self._raw(name)
        if raw is None:
            return self._default(name, default)
        items = [item.strip() for item in raw.split(",")]
        if any(item == "" for item in items):
            raise SettingsError(f"{name}={raw!r} has an empty item (comma-separated, no blanks)")
        return items

    def http_url(self, name: builtins.str, default: Any = _MISSING) -> Any:
        """An http:// or https:// URL with a host (a webhook); empty when the default is ""."""
        raw = self._raw(name)
        if raw is None:
            return self._default(name, default)
        problem = http_url_problem(raw)
        if problem:
            raise SettingsError(f"{name}: {problem}")
        return raw

    def database(self, name: builtins.str, default: builtins.str) -> dict[builtins.str, Any]:
        url = self._raw(name) or default
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"sqlite", "postgres", "postgresql", "pgsql"}:
            raise SettingsError(f"{name} must be a sqlite:// or postgres:// URL, got {url!r}")
        try:
            config: dict[builtins.str, Any] = dict(dj_database_url.parse(url, conn_max_age=60, conn_health_checks=True))
        except ValueError as exc:
            raise SettingsError(f"{name} is not a valid database URL: {exc}") from exc
        if config["ENGINE"].endswith("postgresql") and not config.get("NAME"):
            raise SettingsError(f"{name} names no database: {url!r}")
        return config

    def broker_url(self, name: builtins.str, default: builtins.str) -> Any:
        url = self._raw(name) or default
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"redis", "rediss", "filesystem", "memory"}:
            raise SettingsError(f"{name} must be a redis://, rediss:// or filesystem:// URL, got {url!r}")
        return url

    def cache(self, name: builtins.str, file_cache_dir: Path) -> dict[builtins.str, Any]:
        """Django's default cache: Redis (redis:// or rediss://) when set, else files under ``file_cache_dir``.

        Files, not process memory, are the fallback because the throttles count requests across every web worker
        and process on the host: a per-process cache would let each gunicorn worker allow the full rate.
        """
        url = self._raw(name)
        if url is None:
            return {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache", "LOCATION": str(file_cache_dir)}
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme not in {"redis", "rediss"}:
            raise SettingsError(f"{name} must be a redis:// or rediss:// URL (unset: a file cache), got {url!r}")
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url}

    def timezone(self, name: builtins.str, default: Any = _MISSING) -> Any:
        raw = self._raw(name)
        if raw is None:
            return self._default(name, default)
        try:
            zoneinfo.ZoneInfo(raw)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise SettingsError(f"{name}={raw!r} is not an IANA time zone (e.g. Europe/London)") from exc
        return raw

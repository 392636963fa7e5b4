"""DRF's throttles, counting sources by the address core.client_ip trusts (docs/api.md "Throttling").

DRF's own rule believes any X-Forwarded-For when NUM_PROXIES is unset, so a guesser could pick a fresh "source"
for every request; here the address is the one the lockout counts too.
"""

from __future__ import annotations

from typing import Any

from rest_framework.settings import api_settings
from rest_framework.throttling import AnonRateThrottle, UserRateThrottle

from core.client_ip import request_client_ip
from core.roles import access_of


class _SettingsRate:
    """The rate read from the settings when the throttle is made, not frozen at import as DRF's class attribute is."""

    scope: str | None

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "")
        return None if rate is None else str(rate)

    def get_ident(self, request: Any) -> str:
        return request_client_ip(request)


class SourceAnonRateThrottle(_SettingsRate, AnonRateThrottle):
    """Anonymous requests, per source address (scope ``anon``)."""


class SourceUserRateThrottle(_SettingsRate, UserRateThrottle):
    """Signed-in requests per user, anonymous ones per source address (scope ``user``).

    An interface account has its own, higher, rate (scope ``interface``): a laboratory engine replaying a backlog
    after an outage must not be slowed to a person's pace.
    """

    def allow_request(self, request: Any, view: Any) -> bool:
        if access_of(request.user).interface_account:
            self.scope = "interface"
            self.rate = self.get_rate()
            self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)


class TokenEndpointThrottle(SourceAnonRateThrottle):
    """POST /api/v1/auth/token/ per source (scope ``token``): each try costs a password hash, whoever sends it."""

    scope = "token"

    def get_cache_key(self, request: Any, view: Any) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

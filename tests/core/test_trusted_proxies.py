"""X-Forwarded-Proto and X-Forwarded-For are believed from the trusted proxy only (settings.TRUSTED_PROXIES)."""

from __future__ import annotations

import ipaddress

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from core.middleware import ForwardedHeadersFromTrustedProxies

pytestmark = pytest.mark.unit


def seen_by_the_application(remote_addr: str, **headers: str) -> dict[str, str]:
    seen: dict[str, str] = {}

    def view(request):
        seen.update({key: value for key, value in request.META.items() if key.startswith("HTTP_X_")})
        seen["secure"] = str(request.is_secure())
        return HttpResponse()

    request = RequestFactory().get("/", REMOTE_ADDR=remote_addr, **headers)
    ForwardedHeadersFromTrustedProxies(view)(request)
    return seen


@pytest.fixture
def behind_nginx(settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.TRUSTED_PROXY_NETWORKS = [ipaddress.ip_network("172.30.254.0/29")]


def test_the_proxy_tells_the_application_the_request_came_over_https(behind_nginx):
    seen = seen_by_the_application("172.30.254.2", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="10.1.2.3")

    assert seen == {"HTTP_X_FORWARDED_PROTO": "https", "HTTP_X_FORWARDED_FOR": "10.1.2.3", "secure": "True"}


@pytest.mark.parametrize("remote_addr", ["203.0.113.9", "172.30.254.9", "", "not-an-address"])
def test_anyone_else_claiming_https_or_another_address_is_not_believed(behind_nginx, remote_addr):
    seen = seen_by_the_application(
        remote_addr,
        HTTP_X_FORWARDED_PROTO="https",
        HTTP_X_FORWARDED_FOR="10.1.2.3",
        HTTP_X_FORWARDED_HOST="evil.example",
        HTTP_X_REAL_IP="10.1.2.3",
    )

    assert seen == {"secure": "False"}


@pytest.mark.db
def test_a_page_over_plain_http_from_outside_the_proxy_is_redirected_to_https_despite_the_header(
    client, behind_nginx, settings
):
    settings.SECURE_SSL_REDIRECT = True

    response = client.get("/login/", HTTP_X_FORWARDED_PROTO="https", REMOTE_ADDR="203.0.113.9")

    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_the_default_trusts_this_machine_only():
    from django.conf import settings as live

    assert [str(network) for network in live.TRUSTED_PROXY_NETWORKS] == ["127.0.0.1/32", "::1/128"]

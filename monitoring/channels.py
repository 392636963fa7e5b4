"""Delivery channels behind one interface. In-app needs no channel: the Notification row is the inbox entry."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import urllib.error
import urllib.request
from typing import Any, Protocol

from django.conf import settings
from django.core.mail import send_mail

from core.env import http_url_problem
from monitoring.models import Notification


class DeliveryError(Exception):
    """The channel could not deliver now; the task retries with backoff."""


class Channel(Protocol):
    name: str

    def wants(self, notification: Notification) -> bool: ...

    def send(self, notification: Notification, *, delivery_id: str) -> None: ...


class EmailChannel:
    name = "email"

    def wants(self, notification: Notification) -> bool:
        return bool(settings.IVIG_EMAIL_NOTIFICATIONS and notification.recipient.email)

    def send(self, notification: Notification, *, delivery_id: str) -> None:
        try:
            send_mail(
                subject=f"[IVIG Tracker] {notification.get_kind_display()}",
                message=notification.message,
                from_email=settings.DEFAULT_FROM_EMAIL,
                recipient_list=[notification.recipient.email],
                fail_silently=False,
            )
        except OSError as exc:  # smtplib errors are OSErrors; connection refused, timeouts
            raise DeliveryError(f"email: {exc}") from exc


def webhook_payload(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "kind": notification.kind,
        "message": notification.message,
        "recipient": notification.recipient.get_username(),
        "order": notification.order_id,
        "platelet_check": notification.platelet_check_id,
        "created_at": notification.created_at.isoformat(),
    }


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    """JSON POST signed with HMAC-SHA256 (header X-IVIG-Signature) to the configured URL, carrying the delivery's
    stable id (X-IVIG-Delivery-Id, the same on every retry) for the receiver to deduplicate (docs/api.md)."""

    name = "webhook"

    def wants(self, notification: Notification) -> bool:
        return bool(settings.IVIG_WEBHOOK_URL)

    def send(self, notification: Notification, *, delivery_id: str) -> None:
        # Refused at start-up too (monitoring/checks.py); a bad URL changed at run time fails the attempt clearly.
        problem = http_url_problem(settings.IVIG_WEBHOOK_URL)
        if problem:
            raise DeliveryError(f"webhook: IVIG_WEBHOOK_URL {problem}")
        body = json.dumps(webhook_payload(notification), sort_keys=True).encode()
        request = urllib.request.Request(
            settings.IVIG_WEBHOOK_URL,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "X-IVIG-Signature": sign(body, settings.IVIG_WEBHOOK_SECRET),
                "X-IVIG-Delivery": f"notification-{notification.pk}",
                "X-IVIG-Delivery-Id": delivery_id,
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=settings.IVIG_WEBHOOK_TIMEOUT_SECONDS) as response:
                if not 200 <= response.status < 300:
                    raise DeliveryError(f"webhook answered {response.status}")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
            # Anything short of a 2xx answer is a failed attempt: retried with backoff, then failed for good.
            raise DeliveryError(f"webhook: {exc.__class__.__name__}: {exc}") from exc


CHANNELS: dict[str, Channel] = {channel.name: channel for channel in (EmailChannel(), WebhookChannel())}

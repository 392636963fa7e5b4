"""POST /api/v1/auth/token/ and the caller's own tokens (docs/api.md "Authentication and roles")."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import NotFound
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import tokens
from core.api.auth_token import TwoFactorAuthTokenSerializer
from core.api.throttling import TokenEndpointThrottle


class APITokenSerializer(serializers.Serializer[Any]):
    """One of the caller's tokens: its public key (the token's first characters), never the secret."""

    token_key = serializers.CharField(read_only=True)
    created = serializers.DateTimeField(read_only=True)
    expiry = serializers.DateTimeField(read_only=True)
    current = serializers.SerializerMethodField()

    def get_current(self, token: Any) -> bool:
        return bool(token.pk == getattr(self.context["request"].auth, "pk", None))


class ObtainTokenView(APIView):
    """A new token for a username and password; refused, throttled and locked out like the sign-in page."""

    authentication_classes: list[Any] = []  # the credentials are in the body; a stale header must not refuse them
    permission_classes = [AllowAny]
    throttle_classes = [TokenEndpointThrottle]

    @extend_schema(
        request=TwoFactorAuthTokenSerializer,
        responses={
            200: inline_serializer(
                "AuthToken",
                {"token": serializers.CharField(), "expiry": serializers.DateTimeField()},
            ),
            400: OpenApiResponse(description="Wrong or missing username or password"),
            429: OpenApiResponse(description="Too many tries from this source, or the account is locked out"),
        },
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        # django-axes counts the attempt on the Django request: its middleware, which answers the lockout, sees only
        # that one, not DRF's wrapper.
        django_request = request._request
        serializer = TwoFactorAuthTokenSerializer(data=request.data, context={"request": django_request})
        serializer.is_valid(raise_exception=True)
        user = serializer.validated_data["user"]
        instance, secret = tokens.issue_token(user)
        # As a page sign-in does: last_login, and axes' access log (and its reset of the account's failures).
        user_logged_in.send(sender=type(user), request=django_request, user=user)
        expiry = serializers.DateTimeField().to_representation(instance.expiry)
        return Response({"token": secret, "expiry": expiry})


@extend_schema(tags=["auth"])
class TokenListView(generics.ListAPIView[Any]):
    """The caller's live tokens, newest first (any account, clinical role or not); DELETE /{token_key}/ ends one."""

    permission_classes = [IsAuthenticated]
    serializer_class = APITokenSerializer
    filter_backends: list[Any] = []

    def get_queryset(self) -> QuerySet[Any]:
        return tokens.live_tokens(self.request.user)


class TokenDetailView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses={204: None, 404: OpenApiResponse(description="No such token of yours")}, tags=["auth"])
    def delete(self, request: Request, token_key: str) -> Response:
        if not tokens.revoke_token(request.user, token_key):
            raise NotFound("You have no token with this key.")
        return Response(status=status.HTTP_204_NO_CONTENT)

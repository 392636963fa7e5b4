"""``POST /api/v1/hl7/oru/``: an HL7 v2 ORU^R01 message as the request body, for interface engines that speak
HTTP rather than MLLP. The same service as the MLLP listener.

Status policy: AA, AE and AR are HL7-level answers, so each is HTTP 200 with the ACK as the ``text/plain`` body
(MSA-1 says which; the ``X-HL7-Ack-Code`` header repeats it for engines that route on headers). HTTP errors are
for HTTP problems only: 400 for an empty or non-text body, 415 for a body that is not declared as text, 401/403
for the account.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from core.api.parsers import RequestTooLarge
from core.permissions import HasActionPermission
from core.roles import has_permission
from interop.hl7.mllp import control_id_of, declared_charset, decode, listener_refusal
from interop.hl7.services import receive
from interop.models import HL7Message


class HL7BodyTooLarge(RequestTooLarge):
    """A body over IVIG_HL7_HTTP_MAX_BODY_BYTES: answered 413 with an AR naming the message (MSH-10) when its
    header could be read, so the interface engine logs why and does not resend it unchanged."""

    def __init__(self, limit: int, head: bytes) -> None:
        super().__init__(f"The HL7 body is larger than {limit} bytes, the most this endpoint accepts.")
        self.ack = listener_refusal(
            f"Message larger than {limit} bytes refused: send one result message (or a smaller batch) at a time.",
            control_id_of(head[:4096].decode("latin-1")),
        )


class HL7TextParser(BaseParser):
    """The body as text: the declared charset, else UTF-8, else ISO 8859-1 (as the MLLP listener does)."""

    media_type = "text/plain"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> str:
        limit = settings.IVIG_HL7_HTTP_MAX_BODY_BYTES
        payload = stream.read(limit + 1) if stream is not None else b""
        if len(payload) > limit:
            raise HL7BodyTooLarge(limit, payload)
        if b"\x00" in payload:
            raise ParseError("The body is not text: send the HL7 message itself.")
        charset = ""
        for parameter in (media_type or "").split(";")[1:]:
            name, _, value = parameter.strip().partition("=")
            if name.lower() == "charset":
                charset = value.strip('"')
        if charset and declared_charset(payload) is None:
            # The message declares no character set (MSH-18): the HTTP header's says how to read it. Where MSH-18
            # declares one, it wins, as it does over MLLP (clients often send charset=utf-8 whatever the body).
            try:
                return payload.decode(charset)
            except (LookupError, UnicodeDecodeError) as exc:
                raise ParseError(f"The body is not valid {charset} text.") from exc
        return decode(payload)


class HL7V2Parser(HL7TextParser):
    media_type = "application/hl7-v2"


class HL7V2Er7Parser(HL7TextParser):
    media_type = "x-application/hl7-v2+er7"  # what several interface engines (Mirth, HAPI) send


class PlainTextRenderer(BaseRenderer):
    """Lets a client that asks for ``Accept: text/plain`` in; error bodies then come as text too."""

    media_type = "text/plain"
    format = "txt"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, dict):
            data = "; ".join(
                f"{key}: {' '.join(map(str, value)) if isinstance(value, list) else value}"
                for key, value in data.items()
            )
        return str(data if data is not None else "").encode(self.charset)


class MayRecordPlateletResults(HasActionPermission):
    """``monitoring.record_platelet_result``: nurses and hematologists hold it through their groups; an
    interface-engine account is a user given just this permission, without a clinical role."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if super().has_permission(request, view):
            return True
        user = request.user
        required = view.action_permissions[view.action]
        return bool(user and user.is_authenticated and has_permission(user, required))


ACK_EXAMPLE = (
    "MSH|^~\\&|IVIG_TRACKER|HOSP|LAB|HOSP|20261124091502+0000||ACK^R01^ACK|IVIG42|P|2.5.1\r"
    "MSA|AA|LAB000123|OBX 1: 85 x10*9/L, 24 h check of order #7\r"
)


class OruView(APIView):
    """Receive one HL7 v2 ORU^R01 platelet result and answer with its ACK."""

    permission_classes = [MayRecordPlateletResults]
    action = "receive"
    action_permissions = {"receive": "monitoring.record_platelet_result"}
    parser_classes = [HL7TextParser, HL7V2Parser, HL7V2Er7Parser]
    renderer_classes = [JSONRenderer, PlainTextRenderer]

    def handle_exception(self, exc: Exception) -> Any:
        if isinstance(exc, HL7BodyTooLarge):
            response = HttpResponse(exc.ack, status=exc.status_code, content_type="text/plain; charset=utf-8")
            response["X-HL7-Ack-Code"] = "AR"
            return response
        return super().handle_exception(exc)

    @extend_schema(
        operation_id="hl7_oru_receive",
        summary="Receive an HL7 v2 result (ORU^R01 or OUL^R22), or a batch file of them",
        description=(
            "The body is one HL7 v2 message (segments separated by CR, LF or CRLF), or a batch file (FHS/BHS ... "
            "BTS/FTS) of them, sent as `text/plain` or `application/hl7-v2`; MSH-18 decides the character set where "
            "it declares one. The answer is always HTTP 200 with the HL7 ACK as text (a batch of ACKs for a batch): "
            "MSA-1 is AA (accepted), AE (application error: unknown MRN, bad value, unmapped platelet code...; ERR "
            "says why) or AR (rejected: not HL7, another message type or processing ID, wrong segment order). "
            "MSA-2 echoes MSH-10; `X-HL7-Ack-Code` is MSA-1 (the worst of a batch's). Sending the same MSH-10 again "
            "changes nothing and returns the same ACK. 400 only for an empty or non-text body; 413 with an AR for a "
            "body over IVIG_HL7_HTTP_MAX_BODY_BYTES (1 MB by default)."
        ),
        request={"text/plain": OpenApiTypes.STR, "application/hl7-v2": OpenApiTypes.STR},
        responses={
            (200, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The HL7 ACK (AA, AE or AR).",
                examples=[OpenApiExample("accepted", value=ACK_EXAMPLE)],
            ),
            # 400 (an empty or non-text body), 401, 403 and 415, as JSON or as text: core/api/schema.py.
            (413, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR,
                description="The body is over IVIG_HL7_HTTP_MAX_BODY_BYTES: an AR ACK, MSA-2 naming the message.",
            ),
        },
        tags=["hl7"],
    )
    def post(self, request: Request) -> HttpResponse:
        body = request.data
        if not isinstance(body, str) or not body.strip():
            raise ValidationError({"non_field_errors": ["The body is empty: send the HL7 message as text/plain."]})
        ack = receive(body, transport=HL7Message.Transport.HTTP, user=request.user)
        response = HttpResponse(ack.text, content_type="text/plain; charset=utf-8")
        response["X-HL7-Ack-Code"] = ack.code
        return response

"""SMART on FHIR standalone patient launch (App Launch 2.x "launch/patient"), on django-oauth-toolkit's extension
points rather than a fork of it.

1. An app asks ``/o/authorize/`` for ``launch/patient`` with ``patient/`` read scopes (authorization code, PKCE).
   The consent page (PatientLaunchAuthorizationView) asks the signed-in clinician for the patient's MRN, then
   shows that patient's name and birth date to be confirmed by authorising again (a mistyped MRN can be another
   patient's). A ``patient=<id>`` parameter in the authorization URL only fills the MRN in: the clinician still
   sees and confirms it. Nothing is authorised for an unknown MRN (the form says so beside the field, keeping what
   was typed), nor for an account without a clinical role, which may see no patient's record.
2. The chosen patient travels with the authorization code (SMARTGrantPatient, beside DOT's Grant).
3. Exchanging the code (PatientLaunchValidator) gives the access token the same patient (SMARTTokenPatient) and
   adds ``"patient": "<id>"`` to the token response, as SMART requires. A refreshed token keeps its patient.
4. On the FHIR API a token that reads a type only through a ``patient/`` scope reads only that patient's
   compartment (interop/fhir/smart.py and views.py): the Patient itself and the resources whose subject it is.

Which patients a clinician may choose: any, as every clinical role reads every patient here (docs/api.md "Who may
do what"); the consent page is where a narrower rule would go.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.http import HttpResponse
from oauth2_provider.forms import AllowForm
from oauth2_provider.models import get_application_model
from oauth2_provider.scopes import get_scopes_backend
from oauth2_provider.views import AuthorizationView

from core.oauth import ActingUserValidator
from core.roles import is_clinical_staff
from interop.models import SMARTGrantPatient, SMARTTokenPatient
from patients.models import Patient

LAUNCH_PATIENT = "launch/patient"
PATIENT_SCOPE_PREFIX = "patient/"


def needs_patient(scopes: list[str] | str) -> bool:
    """Whether an authorization must name a patient: it asks for the launch context or a patient/ scope."""
    names = scopes.split() if isinstance(scopes, str) else scopes
    return any(name == LAUNCH_PATIENT or name.startswith(PATIENT_SCOPE_PREFIX) for name in names)


class PatientLaunchForm(AllowForm):  # type: ignore[misc]  # DOT ships no type hints
    """DOT's consent form, with the patient's MRN when the app asks for a patient launch."""

    patient_mrn = forms.CharField(
        label="Patient's MRN",
        required=False,
        max_length=64,
        help_text="The app will read this patient's record only.",
    )
    # The MRN whose patient the clinician was shown: authorising names that patient only once they have seen who
    # it is, and typing another MRN asks again.
    confirmed_mrn = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput())

    def clean(self) -> dict[str, Any]:
        cleaned: dict[str, Any] = super().clean()
        if not cleaned.get("allow") or not needs_patient(cleaned.get("scope") or ""):
            return cleaned  # a refusal needs no patient; an app without a patient launch gets no picker
        mrn = (cleaned.get("patient_mrn") or "").strip()
        if not mrn:
            self.add_error("patient_mrn", "Give the MRN of the patient whose record the app may read.")
            return cleaned
        patient = Patient.objects.filter(mrn=mrn).first()  # exactly: an MRN is never guessed at
        if patient is None:
            self.add_error("patient_mrn", f"No patient has the MRN {mrn}: check it against the wristband.")
            return cleaned
        if cleaned.get("confirmed_mrn") != patient.mrn:
            self.data = self.data.copy()  # the page shown again carries the MRN now confirmed by the next click
            self.data["confirmed_mrn"] = patient.mrn
            self.add_error(
                "patient_mrn",
                f"Is this the patient? {patient}, born {patient.birth_date:%d %b %Y}. Authorise again to confirm.",
            )
            return cleaned
        cleaned["patient"] = patient
        return cleaned


class PatientLaunchAuthorizationView(AuthorizationView):  # type: ignore[misc]  # DOT ships no type hints
    """DOT's consent page (``/o/authorize/``) with a patient chosen for a patient launch."""

    form_class = PatientLaunchForm

    def get_initial(self) -> dict[str, Any]:
        initial: dict[str, Any] = super().get_initial()
        hinted = self.request.GET.get("patient", "").strip()
        if hinted.isdigit() and len(hinted) < 18:
            initial["patient_mrn"] = Patient.objects.filter(pk=int(hinted)).values_list("mrn", flat=True).first()
        return initial

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        form = context.get("form")
        scope = (form["scope"].value() if form is not None else "") or ""
        context["asks_for_patient"] = needs_patient(scope)
        if "application" not in context and form is not None:
            # A form shown again with its errors: DOT's get() alone fills these in.
            all_scopes = get_scopes_backend().get_all_scopes()
            context["application"] = (
                get_application_model().objects.filter(client_id=form["client_id"].value() or "").first()
            )
            context["scopes_descriptions"] = [all_scopes.get(name, name) for name in scope.split()]
        return context

    def get(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponse:
        if needs_patient(request.GET.get("scope", "")) and not is_clinical_staff(request.user):
            return self.render_to_response(
                {
                    "error": {
                        "error": "access_denied",
                        "description": "Your account has no clinical role: it may not open a patient's record.",
                    }
                }
            )
        return super().get(request, *args, **kwargs)

    def create_authorization_response(self, request: Any, scopes: str, credentials: dict[str, Any], allow: bool) -> Any:
        form = getattr(self, "_launch_form", None)
        patient = form.cleaned_data.get("patient") if form is not None else None
        if patient is not None:
            credentials["launch_patient_id"] = patient.pk  # oauthlib sets it on the request the validator sees
        return super().create_authorization_response(request, scopes, credentials, allow)

    def form_valid(self, form: PatientLaunchForm) -> HttpResponse:
        # DOT's form_valid builds the credentials itself and then calls create_authorization_response (above),
        # which picks the patient up from the form kept here.
        if form.cleaned_data.get("patient") is not None and not is_clinical_staff(self.request.user):
            form.add_error("patient_mrn", "Your account has no clinical role: it may not open a patient's record.")
            return self.form_invalid(form)
        self._launch_form = form
        return super().form_valid(form)


class PatientLaunchValidator(ActingUserValidator):
    """The project's validator, carrying a launch's patient from the authorization code to its access token, and
    from a token to the one its refresh token makes."""

    def _create_authorization_code(self, request: Any, code: Any, expires: Any = None) -> Any:
        grant = super()._create_authorization_code(request, code, expires)
        patient_id = getattr(request, "launch_patient_id", None)
        if patient_id is not None:
            SMARTGrantPatient.objects.create(grant=grant, patient_id=patient_id)
        return grant

    def validate_code(self, client_id: str, code: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        valid = bool(super().validate_code(client_id, code, client, request, *args, **kwargs))
        if valid:
            request.launch_patient_id = (
                SMARTGrantPatient.objects.filter(grant__code=code, grant__application=client)
                .values_list("patient_id", flat=True)
                .first()
            )
        return valid

    def validate_refresh_token(self, refresh_token: str, client: Any, request: Any, *args: Any, **kwargs: Any) -> bool:
        valid = bool(super().validate_refresh_token(refresh_token, client, request, *args, **kwargs))
        previous = getattr(request, "refresh_token_instance", None)
        if valid and previous is not None and previous.access_token_id is not None:
            # Read now: rotating the refresh token deletes the access token it came with, and its context with it.
            request.launch_patient_id = (
                SMARTTokenPatient.objects.filter(access_token_id=previous.access_token_id)
                .values_list("patient_id", flat=True)
                .first()
            )
        return valid

    def _create_access_token(self, expires: Any, request: Any, token: Any, source_refresh_token: Any = None) -> Any:
        access_token = super()._create_access_token(expires, request, token, source_refresh_token)
        patient_id = getattr(request, "launch_patient_id", None)
        if patient_id is not None:
            SMARTTokenPatient.objects.create(access_token=access_token, patient_id=patient_id)
            token["patient"] = str(patient_id)  # the token response's launch context (SMART App Launch 2.x)
        return access_token


def token_patient_id(auth: Any) -> int | None:
    """The patient of an access token's launch context, or None."""
    context = getattr(auth, "smart_patient", None) if auth is not None else None
    return context.patient_id if context is not None else None

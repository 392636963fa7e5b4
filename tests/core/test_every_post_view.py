"""Every web page that accepts a POST reaches the one service that enforces its rule.

The URL patterns are walked (``get_resolver``); each that answers a POST with anything but 405 must be in
``POST_VIEWS`` (with the service it calls) or in ``READ_ONLY_PAGES`` (a page that only reads, whatever is posted).
A new view that takes a POST and is in neither fails the first test. For each POST view, a well-formed post that
breaks the service's rule, by the role allowed to post it, must reach that service (a pass-through spy counts the
call and sees the service itself refuse), come back as a refusal in clinical words, and leave every clinical row and
history row as it was; garbage and ids that name nothing never give a 5xx.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.messages import ERROR, get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from tests.factories import UserFactory
from tests.web_forms import Ward, build_ward, changed_rows, clinical_rows, local_input

pytestmark = pytest.mark.db

# Paths this test does not walk, and why: each has its own forms, contract and tests.
EXCLUDED_PREFIXES = {
    "admin/": "Django's admin: clinical records read-only or changed through services (tests/core/test_admin_*)",
    "api/": "the REST API of docs/api.md, with its own contract and schema tests",
    "fhir/": "FHIR R4, read-only",
    "o/": "django-oauth-toolkit's OAuth2 endpoints",
    "login/": "Django's login form: no clinical record",
    "logout/": "Django's logout: no clinical record",
    "account/": "the account's own sign-in settings (API tokens, two-factor): tests/core/test_api_tokens.py, "
    "tests/core/test_two_factor.py",
    "oidc/": "single sign-on (mozilla-django-oidc): tests/core/test_sso.py",
    "sso/": "the single sign-on refusal page: tests/core/test_sso.py",
}


@dataclass(frozen=True)
class PostView:
    """A view that changes a record: the service it calls (``module.function``, looked up where the view looks it
    up), who may post, a post that breaks the service's rule, and words the refusal shows."""

    service: str
    role: str
    rule_breaking: Callable[[Ward], tuple[str, dict[str, Any]]]
    says: str
    raises: bool = True  # a dry run reports what it would meet instead of raising
    htmx: bool = False


def _gtin_with_check_digit(body: str) -> str:
    digits = [int(d) for d in body]
    weighted = sum(d * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return body + str((10 - weighted % 10) % 10)


def _result_action(action: str, body: dict[str, Any]) -> Callable[[Ward], tuple[str, dict[str, Any]]]:
    return lambda ward: (
        f"/hematology/patients/{ward.given.patient_id}/results/{ward.result.pk}/{action}/",
        body,
    )


def _bedside(infusion: str, action: str, body: Callable[[Ward], dict[str, Any]]) -> Any:
    return lambda ward: (f"/orders/infusions/{getattr(ward, infusion).pk}/{action}/", body(ward))


POST_VIEWS: dict[str, PostView | dict[str, PostView]] = {
    "patient-create": PostView(
        "patients.services.create_patient",
        "nurse",
        lambda ward: (
            "/patients/new/",
            {
                "mrn": "MRN-RULE-1",
                "given_name": "Ada",
                "family_name": "Byrne",
                "birth_date": "1980-05-01",
                "sex": "female",
                "serum_iga_mg_dl": "120",
                "iga_measured_on": "1979-01-01",
                "anti_iga_antibodies": "unknown",
            },
        ),
        "before the patient&#x27;s birth",
    ),
    "patient-edit": PostView(
        "patients.services.update_patient",
        "nurse",
        lambda ward: (
            f"/patients/{ward.patient.pk}/edit/",
            {
                "mrn": ward.patient.mrn,
                "given_name": "Alex",
                "family_name": ward.patient.family_name,
                "birth_date": "1980-01-01",
                "sex": "male",
                "height_cm": "178",
                "serum_iga_mg_dl": "150",
                "iga_measured_on": "1975-06-01",
                "anti_iga_antibodies": "unknown",
            },
        ),
        "before the patient&#x27;s birth",
    ),
    "patient-ivig-reaction-add": PostView(
        "patients.services.record_reported_ivig_reaction",
        "nurse",
        lambda ward: (
            f"/patients/{ward.patient.pk}/ivig-reactions/",
            {"occurred_on": "1960-03-01", "product": "Privigen", "ctcae_grade": "3", "where": "St Elsewhere"},
        ),
        "before the patient&#x27;s birth",
    ),
    "patient-lab-add": PostView(
        "patients.services.record_lab_result",
        "nurse",
        lambda ward: (
            f"/patients/{ward.patient.pk}/labs/",
            {"test": "creatinine", "unit_creatinine": "µmol/L", "value": "85", "collected_at": "1950-01-01T09:00"},
        ),
        "before the patient&#x27;s birth",
    ),
    "order-create": PostView(
        "infusions.services.create_order",
        "hematologist",
        lambda ward: (
            "/orders/new/",
            {
                "patient": str(ward.patient.pk),
                "regimen": "one_dose_1g_per_kg",
                "product": str(ward.product.pk),
                "baseline_platelet_count": "12",
                "first_infusion_on": str(timezone.localdate() + timedelta(days=90)),
            },
        ),
        "more than 30 days ahead",
    ),
    "order-preview": PostView(
        "infusions.services.preview_order",
        "hematologist",
        lambda ward: (
            "/orders/preview/",
            {
                "patient": str(ward.patient.pk),
                "regimen": "one_dose_1g_per_kg",
                "product": str(ward.product.pk),
                "baseline_platelet_count": "12",
                "first_infusion_on": str(timezone.localdate() + timedelta(days=90)),
            },
        ),
        "more than 30 days ahead",
        raises=False,
    ),
    "order-verify": PostView(
        "infusions.services.verify_order",
        "hematologist",  # the draft's own prescriber
        lambda ward: (f"/orders/{ward.draft.pk}/verify/", {}),
        "never its prescriber",
    ),
    "order-cancel": PostView(
        "infusions.services.cancel_order",
        "hematologist",
        lambda ward: (f"/orders/{ward.running.order_id}/cancel/", {"reason": "patient declined"}),
        "An infusion of this order is running",
    ),
    "order-recalculate": PostView(
        "infusions.services.recalculate_order",
        "hematologist",
        lambda ward: (f"/orders/{ward.given.pk}/recalculate/", {"reason": "new weight"}),
        "it is no longer recalculated",
    ),
    "order-return": PostView(
        "infusions.services.return_order",
        "pharmacist",
        lambda ward: (f"/orders/{ward.draft.pk}/return/", {"reason": "  "}),
        "Give the reason for returning",
    ),
    "order-hold-review": PostView(
        "infusions.services.review_hold",
        "hematologist",
        lambda ward: (f"/orders/{ward.given.pk}/hold-review/", {"decision": "continue", "reason": "reviewed"}),
        "This course is not on hold.",
    ),
    "order-change-product": PostView(
        "infusions.services.change_product",
        "pharmacist",
        lambda ward: (
            f"/orders/{ward.draft.pk}/change-product/",
            {"product": str(ward.other_product.pk), "reason": "stock"},
        ),
        "is changed by recalculating it",
    ),
    "product-site-values": PostView(
        "infusions.services.record_site_values",
        "pharmacist",
        lambda ward: (f"/orders/catalogue/{ward.product.pk}/", {f"product{ward.product.pk}-source": "protocol"}),
        "Record at least one value",
    ),
    "product-gtins": PostView(
        "infusions.services.record_gtins",
        "pharmacist",
        lambda ward: (
            f"/orders/catalogue/{ward.product.pk}/gtins/",
            {"gtin": _gtin_with_check_digit("0950110153999"), "vial_size_g": "7.25", "source": "supplier"},
        ),
        "does not come in 7.25 g vials",
    ),
    "infusion-action": {
        "vitals": PostView(
            "infusions.services.record_vitals",
            "nurse",
            _bedside(
                "running",
                "vitals",
                lambda ward: {
                    "temperature_c": "36.8",
                    "heart_rate_bpm": "72",
                    "systolic_bp_mmhg": "120",
                    "diastolic_bp_mmhg": "75",
                    "respiratory_rate_per_min": "16",
                    "spo2_percent": "98",
                    "taken_at": local_input(timezone.now() + timedelta(hours=2)),
                },
            ),
            "This time is in the future.",
            htmx=True,
        ),
        "start": PostView(
            "infusions.services.start_infusion",
            "nurse",
            _bedside("scheduled", "start", lambda ward: {}),
            'data-testid="bedside-error"',
            htmx=True,
        ),
        "rate": PostView(
            "infusions.services.change_rate",
            "nurse",
            _bedside("running", "rate", lambda ward: {"rate_ml_per_h": "5000"}),
            'data-testid="bedside-error"',
            htmx=True,
        ),
        "pause": PostView(
            "infusions.services.pause_infusion",
            "nurse",
            _bedside("scheduled", "pause", lambda ward: {}),
            "scheduled",
            htmx=True,
        ),
        "resume": PostView(
            "infusions.services.resume_infusion",
            "nurse",
            _bedside("running", "resume", lambda ward: {}),
            "in progress",
            htmx=True,
        ),
        "reaction": PostView(
            "infusions.services.record_reaction",
            "nurse",
            _bedside(
                "running", "reaction", lambda ward: {"reaction": "fever", "ctcae_grade": "²", "action_taken": "x"}
            ),
            "The CTCAE grade is 1 to 5.",
            htmx=True,
        ),
        "complete": PostView(
            "infusions.services.complete_infusion",
            "nurse",
            _bedside("scheduled", "complete", lambda ward: {}),
            "only a running one completes",
            htmx=True,
        ),
        "stop": PostView(
            "infusions.services.stop_infusion",
            "nurse",
            _bedside("running", "stop", lambda ward: {"reason": " "}),
            "Give the reason for stopping.",
            htmx=True,
        ),
        "fluid": PostView(
            "infusions.services.record_fluid_entry",
            "nurse",
            _bedside("running", "fluid", lambda ward: {"kind": "intake", "volume_ml": "6000"}),
            "more than 5000 mL in one entry",
            htmx=True,
        ),
        "vial-check": PostView(
            "infusions.services.vials.check_vial",
            "nurse",
            _bedside(
                "scheduled",
                "vial-check",
                lambda ward: {
                    "vial_product": str(ward.scheduled.order.product_id),
                    "vial_size_g": "7.25",
                    "vial_lot": "L1",
                    "vial_expiry": str(timezone.localdate() + timedelta(days=200)),
                },
            ),
            "7.25",
            raises=False,
            htmx=True,
        ),
    },
    "notification-read": PostView(
        "monitoring.services.mark_read",
        "nurse",
        lambda ward: (f"/monitoring/inbox/{ward.other_notification.pk}/read/", {}),
        "",
        raises=False,  # another's notification: the page answers 404 before the service is asked
    ),
    "order-result": PostView(
        "monitoring.services.record_platelet_result",
        "nurse",
        lambda ward: (
            f"/monitoring/orders/{ward.given.pk}/result/",
            {"platelet_count": "40", "collected_at": local_input(timezone.now() + timedelta(hours=3))},
        ),
        "future",
        htmx=True,
    ),
    "worklist-result": PostView(
        "monitoring.services.record_platelet_result",
        "nurse",
        lambda ward: (
            f"/monitoring/checks/{ward.given.platelet_checks.get(label='48h').pk}/worklist-result/",
            {"platelet_count": "40", "collected_at": local_input(timezone.now() + timedelta(hours=3))},
        ),
        "future",
        htmx=True,
    ),
    "worklist-bleeding": PostView(
        "monitoring.services.record_bleeding_grade",
        "nurse",
        lambda ward: (f"/monitoring/results/{ward.result.pk}/worklist-bleeding/", {"who_grade": "7"}),
        "0 to 4",
        htmx=True,
    ),
    "order-repeat-decision": PostView(
        "monitoring.services.decide_repeat_dose",
        "hematologist",
        lambda ward: (f"/monitoring/orders/{ward.given.pk}/repeat-decision/", {"decision": "accept"}),
        "No repeat dose is recommended",
    ),
    "infusion-move": PostView(
        "infusions.services.move_infusion_to_unit",
        "nurse",
        lambda ward: (f"/orders/infusions/{ward.running.pk}/move/", {"unit": "", "reason": "transfer"}),
        "Choose an open unit to move this day to.",
    ),
    "infusion-withhold": PostView(
        "infusions.services.withhold_infusion",
        "nurse",
        lambda ward: (f"/monitoring/infusions/{ward.given.infusions.get(day_number=2).pk}/withhold/", {"reason": "x"}),
        "shows a response",
    ),
    "patient-result-action": {
        "correct": PostView(
            "monitoring.services.correct_platelet_result",
            "hematologist",
            _result_action("correct", {"platelet_count": "16", "reason": " "}),
            "Give the reason (what was wrong).",
        ),
        "entered-in-error": PostView(
            "monitoring.services.withdraw_platelet_result",
            "hematologist",
            _result_action("entered-in-error", {"reason": " "}),
            "Give the reason (what was wrong).",
        ),
        "bleeding": PostView(
            "monitoring.services.record_bleeding_grade",
            "hematologist",
            _result_action("bleeding", {"who_grade": "9"}),
            "",  # the result's bleeding was recorded with it: the page has no grade form to show the error in
        ),
    },
    "patient-co-therapy": PostView(
        "monitoring.services.record_co_therapy",
        "hematologist",
        lambda ward: (
            f"/hematology/patients/{ward.given.patient_id}/co-therapies/",
            {"kind": "leeches", "given_from": local_input(timezone.now() - timedelta(hours=1))},
        ),
        "Choose the kind of co-therapy.",
    ),
}

# Pages that only read: a POST to them is answered as a GET would be and changes nothing.
READ_ONLY_PAGES: dict[str, Callable[[Ward], str]] = {
    "home": lambda ward: "/",
    "nurse-home": lambda ward: "/nurse/",
    "hematologist-home": lambda ward: "/hematology/",
    "patient-response": lambda ward: f"/hematology/patients/{ward.given.patient_id}/",
    "pharmacist-home": lambda ward: "/pharmacy/",
    "lot-recall": lambda ward: "/pharmacy/lots/?lot=LOT-1",
    "orders-csv": lambda ward: "/pharmacy/orders.csv",
    "patient-list": lambda ward: "/patients/",
    "patient-detail": lambda ward: f"/patients/{ward.patient.pk}/",
    "verification-queue": lambda ward: "/orders/verify/",
    "order-detail": lambda ward: f"/orders/{ward.given.pk}/",
    "order-working": lambda ward: f"/orders/{ward.given.pk}/working/",
    "product-catalogue": lambda ward: "/orders/catalogue/",
    "patient-orders": lambda ward: f"/orders/for-patient/{ward.patient.pk}/",
    "infusion-bedside": lambda ward: f"/orders/infusions/{ward.running.pk}/",
    "inbox": lambda ward: "/monitoring/inbox/",
    "notification-badge": lambda ward: "/monitoring/inbox/badge/",
    "order-monitoring": lambda ward: f"/monitoring/orders/{ward.given.pk}/",
    "day2-prompt": lambda ward: f"/monitoring/infusions/{ward.given.infusions.get(day_number=2).pk}/day2/",
    "healthz": lambda ward: "/healthz",
    "smart-configuration": lambda ward: "/.well-known/smart-configuration",
}

# Roles that may post each read-only page (the pharmacy pages are the pharmacist's).
READ_ONLY_ROLE = {
    "pharmacist-home": "pharmacist",
    "lot-recall": "pharmacist",
    "orders-csv": "pharmacist",
    "product-catalogue": "pharmacist",
    "verification-queue": "pharmacist",
}


def walked_patterns() -> list[tuple[str, URLPattern]]:
    """(route, pattern) for every URL pattern outside ``EXCLUDED_PREFIXES``, included ones flattened."""
    found: list[tuple[str, URLPattern]] = []

    def walk(patterns: list[Any], prefix: str) -> None:
        for entry in patterns:
            route = prefix + str(entry.pattern)
            if any(route.startswith(excluded) for excluded in EXCLUDED_PREFIXES):
                continue
            if isinstance(entry, URLResolver):
                walk(entry.url_patterns, route)
            else:
                found.append((route, entry))

    walk(get_resolver().url_patterns, "")
    return found


def url_naming_nothing(pattern: URLPattern) -> str:
    """The pattern's URL with each id one no row has, and each word one no view knows."""
    kwargs = {
        name: 999_999_999 if converter.regex == "[0-9]+" else "no-such-thing"
        for name, converter in pattern.pattern.converters.items()
    }
    return reverse(pattern.name, kwargs=kwargs)


def post_view_entries() -> list[tuple[str, PostView]]:
    entries: list[tuple[str, PostView]] = []
    for name, entry in POST_VIEWS.items():
        if isinstance(entry, dict):
            entries += [(f"{name}:{action}", view) for action, view in entry.items()]
        else:
            entries.append((name, entry))
    return entries


class ServiceSpy:
    """Stands in for a service where the view looks it up, calls the real one, and remembers the call and whether
    the service itself refused. Not a mock: the service runs as it always does."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, target: str) -> None:
        module_name, self.name = target.rsplit(".", 1)
        self.module = importlib.import_module(module_name)
        self.real = getattr(self.module, self.name)
        self.calls = 0
        self.refusals: list[Exception] = []
        monkeypatch.setattr(self.module, self.name, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        try:
            return self.real(*args, **kwargs)
        except Exception as exc:
            self.refusals.append(exc)
            raise


def what_the_user_sees(response: Any) -> tuple[str, list[str]]:
    """The page, and the error messages it carries to the next page (a transition redirects with them)."""
    errors = [str(message) for message in get_messages(response.wsgi_request) if message.level >= ERROR]
    return response.content.decode(errors="replace"), errors


@pytest.fixture
def ward(db) -> Ward:
    from infusions.models import Product
    from monitoring.models import Notification

    ward = build_ward()
    ward.other_product = Product.objects.filter(on_formulary=True).exclude(pk=ward.product.pk).first()
    ward.other_notification = Notification.objects.create(
        recipient=ward.hematologist, kind="platelet_check_due", message="another's", dedupe_key="another"
    )
    return ward


def test_every_view_that_takes_a_post_is_registered_with_its_service_or_as_read_only(db):
    superuser = UserFactory(username="root", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(superuser)
    walked = walked_patterns()
    takes_post = {
        pattern.name for _route, pattern in walked if client.post(url_naming_nothing(pattern), {}).status_code != 405
    }
    names = {pattern.name for _route, pattern in walked}

    assert takes_post - set(POST_VIEWS) - set(READ_ONLY_PAGES) == set(), "register each new POST view here"
    assert set(POST_VIEWS) | set(READ_ONLY_PAGES) <= names, "a registered view no longer exists"
    assert set(POST_VIEWS) <= takes_post
    # Not vacuous: the walk found the pages' POST views (bedside, orders, results, patients, catalogue...).
    assert len(takes_post & set(POST_VIEWS)) == len(POST_VIEWS) >= 20


@pytest.mark.parametrize(("name", "view"), post_view_entries(), ids=[name for name, _ in post_view_entries()])
def test_a_post_that_breaks_the_rule_reaches_the_service_which_refuses_it_and_nothing_changes(
    name, view, ward, monkeypatch
):
    spy = ServiceSpy(monkeypatch, view.service)
    client = Client()
    client.force_login(getattr(ward, view.role))
    url, body = view.rule_breaking(ward)
    before = clinical_rows()

    response = client.post(url, body, **({"HTTP_HX_REQUEST": "true"} if view.htmx else {}))

    assert response.status_code < 500
    assert changed_rows(before, clinical_rows()) == {}
    page, error_messages = what_the_user_sees(response)
    assert view.says in page + " ".join(error_messages), error_messages
    if name == "notification-read":
        assert response.status_code == 404 and spy.calls == 0
        return
    assert spy.calls >= 1, f"{name} did not reach {view.service}"
    if view.raises:
        assert spy.refusals, f"{view.service} accepted what breaks its rule"
        shown_as_refused = (
            response.status_code >= 400
            or bool(error_messages)
            or any(mark in page for mark in ("aria-invalid", "errorlist", 'role="alert"'))
        )
        assert shown_as_refused


GARBAGE = ("²", "١٢", "NaN", "-inf", "9" * 40, "0001-01-01T00:00", "9999-12-31", "abc")


@pytest.mark.parametrize(("name", "view"), post_view_entries(), ids=[name for name, _ in post_view_entries()])
def test_garbage_and_ids_that_name_nothing_are_never_a_server_error(name, view, ward):
    client = Client()
    client.force_login(getattr(ward, view.role))
    url, body = view.rule_breaking(ward)
    headers = {"HTTP_HX_REQUEST": "true"} if view.htmx else {}
    for garbage in GARBAGE:
        fields = {*body, "patient", "product", "check", "order", "withdraw", "vial_product", "ctcae_grade"}
        response = client.post(url, dict.fromkeys(fields, garbage), **headers)
        assert response.status_code < 500, (garbage, response.status_code)

    pattern = get_resolver().resolve(url)
    if not any(isinstance(value, int) for value in pattern.kwargs.values()):
        return  # no id in its address
    nothing = reverse(
        pattern.url_name,
        kwargs={key: 999_999_999 if isinstance(value, int) else value for key, value in pattern.kwargs.items()},
    )
    before = clinical_rows()
    assert client.post(nothing, body, **headers).status_code in (403, 404)
    assert changed_rows(before, clinical_rows()) == {}


@pytest.mark.parametrize("name", sorted(READ_ONLY_PAGES))
def test_a_post_to_a_page_that_only_reads_changes_nothing(name, ward):
    client = Client()
    client.force_login(getattr(ward, READ_ONLY_ROLE.get(name, "hematologist")))
    before = clinical_rows()
    response = client.post(READ_ONLY_PAGES[name](ward), {"reason": "x", "platelet_count": "²", "id": "NaN"})
    assert response.status_code < 500
    assert changed_rows(before, clinical_rows()) == {}

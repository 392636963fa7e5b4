"""Demo data for ``make run``: one user per role and patients at different stages. Idempotent.

The demo users' passwords are published (README, the command's output): they are given only where DEBUG is on.
Loaded on purpose elsewhere (``load_demo_data --force``, a training server), each new user gets a random password,
shown once by the command and stored nowhere else."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from core.models import Unit, UnitKind
from core.services import set_default_units
from infusions import services as order_services
from infusions.models import Product
from infusions.services.vials import planned_vials
from monitoring import services as monitoring_services
from monitoring.models import PlateletCheck, PlateletResult
from patients import services as patient_services
from patients.models import CoTherapy, Patient

WARD_7 = "Ward 7 — Haematology"
DAY_UNIT = "Day Unit"
# The demo hospital's two units: the inpatient ward and the day unit where planned courses are given.
DEMO_UNITS = [
    (WARD_7, UnitKind.WARD, "City Hospital"),
    (DAY_UNIT, UnitKind.DAY_UNIT, "City Hospital"),
]


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    first_name: str
    last_name: str
    units: tuple[str, ...] = ()  # the user's default units; none: sees every unit


DEMO_USERS = [
    DemoUser("nurse", "ivig-demo-nurse", "nurse", "Nora", "Nightingale", (WARD_7,)),
    DemoUser("nurse2", "ivig-demo-nurse2", "nurse", "Dev", "Desai", (DAY_UNIT,)),
    DemoUser("hematologist", "ivig-demo-hematologist", "hematologist", "Harriet", "Hale", (WARD_7, DAY_UNIT)),
    DemoUser("hematologist2", "ivig-demo-hematologist2", "hematologist", "Henry", "Hughes"),
    DemoUser("pharmacist", "ivig-demo-pharmacist", "pharmacist", "Priya", "Patel"),
]

# Where each demo patient is: the others are on Ward 7.
DEMO_DAY_UNIT_PATIENTS = ("DEMO-0002", "DEMO-0003", "DEMO-0004", "DEMO-0008")

DEMO_PATIENTS: list[dict[str, Any]] = [
    {
        "mrn": "DEMO-0001",
        "given_name": "Alan",
        "family_name": "Archer",
        "birth_date": date(1980, 3, 14),
        "sex": "male",
        "height_cm": Decimal("178"),
        "weight_kg": Decimal("82"),
        "serum_iga_mg_dl": Decimal("180"),
    },
    {
        "mrn": "DEMO-0002",
        "given_name": "Beatrice",
        "family_name": "Bell",
        "birth_date": date(1973, 7, 2),
        "sex": "female",
        "height_cm": Decimal("165"),
        "weight_kg": Decimal("110"),
        "serum_iga_mg_dl": Decimal("95"),
    },
    {
        "mrn": "DEMO-0003",
        "given_name": "Cyril",
        "family_name": "Cole",
        "birth_date": date(1955, 11, 30),
        "sex": "male",
        "height_cm": Decimal("172"),
        "weight_kg": Decimal("76"),
        "serum_iga_mg_dl": Decimal("140"),
        "cardiac_dysfunction": True,
    },
    {
        "mrn": "DEMO-0004",
        "given_name": "Daisy",
        "family_name": "Dunn",
        "birth_date": date(1991, 1, 9),
        "sex": "female",
        "height_cm": Decimal("160"),
        "weight_kg": Decimal("58"),
        "serum_iga_mg_dl": Decimal("3"),
        "allergies": "Penicillin (rash)",
    },
    {
        "mrn": "DEMO-0005",
        "given_name": "Ethan",
        "family_name": "Evans",
        "birth_date": date(2018, 5, 21),
        "sex": "male",
        "height_cm": Decimal("120"),
        "weight_kg": Decimal("22"),
        "serum_iga_mg_dl": Decimal("60"),
    },
    {
        "mrn": "DEMO-0007",
        "given_name": "Grace",
        "family_name": "Green",
        "birth_date": date(1966, 2, 3),
        "sex": "female",
        "height_cm": Decimal("158"),
        "weight_kg": Decimal("64"),
        "serum_iga_mg_dl": Decimal("160"),
    },
    {
        "mrn": "DEMO-0006",
        "given_name": "Fiona",
        "family_name": "Fox",
        "birth_date": date(1988, 9, 17),
        "sex": "female",
        "height_cm": Decimal("168"),
        "weight_kg": Decimal("70"),
        "serum_iga_mg_dl": Decimal("110"),
        "pregnant": True,
        # docs/clinical-rules.md §A13: a pregnancy is recorded with its expected delivery date (days from today).
        "expected_delivery_in_days": 120,
    },
    {
        # IgA-deficient, anti-IgA antibodies not tested: her course goes ahead on the prescriber's recorded reason
        # (an iga_conflict override).
        "mrn": "DEMO-0008",
        "given_name": "Hannah",
        "family_name": "Hart",
        "birth_date": date(1984, 4, 22),
        "sex": "female",
        "height_cm": Decimal("170"),
        "weight_kg": Decimal("66"),
        "serum_iga_mg_dl": Decimal("4"),
    },
    {
        # Diabetic and over 65 (renal risk factors, docs/clinical-rules.md §A13): his course ended three days ago,
        # his creatinine rose the day after, and the creatinine after the course is due now.
        "mrn": "DEMO-0010",
        "given_name": "Jack",
        "family_name": "Jones",
        "birth_date": date(1958, 6, 12),
        "sex": "male",
        "height_cm": Decimal("176"),
        "weight_kg": Decimal("88"),
        "serum_iga_mg_dl": Decimal("170"),
        "diabetes": True,
        "labs_days_ago": 5,
    },
    {
        # A two-day course whose day 1 ended with a grade-3 reaction: day 2 waits for the hematologist's review.
        "mrn": "DEMO-0009",
        "given_name": "Isaac",
        "family_name": "Irving",
        "birth_date": date(1962, 10, 5),
        "sex": "male",
        "height_cm": Decimal("181"),
        "weight_kg": Decimal("79"),
        "serum_iga_mg_dl": Decimal("150"),
    },
]


ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "ivig-demo-admin"


def published_password(username: str) -> str:
    """The demo password printed in the README: for a development machine only."""
    return {demo.username: demo.password for demo in DEMO_USERS}.get(username, ADMIN_PASSWORD)


def random_password(username: str) -> str:
    return secrets.token_urlsafe(18)


def ensure_demo_units() -> dict[str, Unit]:
    units = {}
    for name, kind, site in DEMO_UNITS:
        units[name], _ = Unit.objects.get_or_create(name=name, defaults={"kind": kind, "site": site})
    return units


def ensure_demo_users(
    units: dict[str, Unit], password_for: Callable[[str], str] = published_password
) -> tuple[dict[str, Any], dict[str, str]]:
    """The demo users, and the passwords given to those created now (an existing user's password is left as it
    is: a second run changes no one's password)."""
    user_model = get_user_model()
    users = {}
    given: dict[str, str] = {}
    for demo in DEMO_USERS:
        user, created = user_model.objects.get_or_create(
            username=demo.username, defaults={"first_name": demo.first_name, "last_name": demo.last_name}
        )
        if created:
            given[demo.username] = password_for(demo.username)
            user.set_password(given[demo.username])
            user.save()
        user.groups.add(Group.objects.get(name=demo.role))
        if created and demo.units:
            set_default_units(user=user, units=[units[name] for name in demo.units])
        users[demo.username] = user
    admin, created = user_model.objects.get_or_create(
        username=ADMIN_USERNAME,
        defaults={"is_staff": True, "is_superuser": True, "first_name": "IT", "last_name": "Admin"},
    )
    if created:
        given[ADMIN_USERNAME] = password_for(ADMIN_USERNAME)
        admin.set_password(given[ADMIN_USERNAME])
        admin.save()
    users[ADMIN_USERNAME] = admin
    return users, given


def ensure_demo_patients(user: Any, units: dict[str, Unit]) -> dict[str, Patient]:
    patients = {}
    for spec in DEMO_PATIENTS:
        data = dict(spec)
        data["unit"] = units[DAY_UNIT if spec["mrn"] in DEMO_DAY_UNIT_PATIENTS else WARD_7]
        weight = data.pop("weight_kg")
        labs_days_ago = data.pop("labs_days_ago", 2)
        if "expected_delivery_in_days" in data:
            data["expected_delivery_date"] = timezone.localdate() + timedelta(
                days=data.pop("expected_delivery_in_days")
            )
        existing = Patient.objects.filter(mrn=data["mrn"]).first()
        if existing is None:
            existing = patient_services.create_patient(
                data=data, user=user, weight_kg=weight, weight_measured_at=timezone.now() - timedelta(days=6)
            )
        elif existing.unit_id is None:
            # Demo data loaded before units existed: the patient is placed, as IT would place them.
            existing = patient_services.update_patient(patient_id=existing.pk, data={"unit": data["unit"]}, user=user)
        if not existing.lab_results.exists():
            # The pre-course labs a patient sent for IVIG has (docs/clinical-rules.md §A9, §A13), from two days ago
            # (or as the patient's record says).
            for test, value, unit in (
                ("creatinine", "76", "umol/L"),
                ("hemoglobin", "128", "g/L"),
                ("blood_group", "O+", ""),
            ):
                patient_services.record_lab_result(
                    patient_id=existing.pk,
                    user=user,
                    test=test,
                    value=value,
                    unit=unit,
                    collected_at=timezone.now() - timedelta(days=labs_days_ago),
                )
        patients[existing.mrn] = existing
    return patients


NORMAL_VITALS = {
    "temperature_c": "36.8",
    "heart_rate_bpm": 74,
    "systolic_bp_mmhg": 124,
    "diastolic_bp_mmhg": 78,
    "respiratory_rate_per_min": 16,
    "spo2_percent": 98,
}
ALL_CONFIRMED = dict.fromkeys(order_services.CHECKLIST_ITEMS, True)


@dataclass(frozen=True)
class DemoOrder:
    mrn: str
    regimen: str
    product: str
    baseline: int
    verify: bool
    # Hours ago the first infusion completed (late entry through the same services), or None if not given.
    completed_hours_ago: float | None = None
    # Platelet counts entered for the 24h, 48h, 72h checks (a responder and a non-responder).
    counts: tuple[int, ...] = ()


# Courses at different stages: given yesterday (24 h check now due), awaiting verification, scheduled today.
DEMO_ORDERS = [
    DemoOrder("DEMO-0001", "one_dose_1g_per_kg", "Gamunex-C", 12, True, completed_hours_ago=25),
    DemoOrder("DEMO-0002", "two_days_1g_per_kg", "Privigen", 8, False),
    DemoOrder("DEMO-0003", "five_days_0_4g_per_kg", "Gamunex-C", 15, False),
    # Awaiting pharmacy: Gammagard S/D's label gives no ITP rates, so it is not verified until the site's values are
    # recorded in the catalogue (the rate_plan_incomplete stop).
    DemoOrder("DEMO-0004", "one_dose_1g_per_kg", "Gammagard S/D", 9, False),
    DemoOrder("DEMO-0005", "one_dose_0_8g_per_kg", "Gamunex-C", 11, True),
    DemoOrder("DEMO-0006", "one_dose_1g_per_kg", "Gamunex-C", 6, True, completed_hours_ago=80, counts=(8, 10, 12)),
    DemoOrder(
        "DEMO-0007",
        "one_dose_1g_per_kg",
        "Privigen",
        14,
        True,
        completed_hours_ago=100,
        # A complete response at 24 h, then lost: below it at 48 h and again a day later (confirmed, A12).
        counts=(130, 90, 40),
    ),
    DemoOrder("DEMO-0010", "one_dose_1g_per_kg", "Gamunex-C", 10, True, completed_hours_ago=74),
]


def _first_infusion_times(completed_hours_ago: float) -> tuple[Any, Any]:
    completed_at = timezone.now() - timedelta(hours=completed_hours_ago)
    return completed_at - timedelta(hours=3), completed_at


def _give_first_infusion(order: Any, nurse: Any, completed_hours_ago: float) -> None:
    infusion = order.infusions.order_by("day_number").first()
    started_at, completed_at = _first_infusion_times(completed_hours_ago)
    if order_services.prehydration_due(order, start_at=started_at):
        # docs/clinical-rules.md §A13: a renal or thrombosis risk factor without cardiac dysfunction (DEMO-0006's
        # pregnancy) is pre-hydrated before the infusion, recorded as a co-therapy (§A10 prehydration_not_given).
        monitoring_services.record_co_therapy(
            patient_id=order.patient_id,
            user=nurse,
            data={
                "kind": "prehydration",
                "drug": "sodium chloride 0.9 %",
                "volume_ml": 500,
                "given_from": started_at - timedelta(hours=1),
                "given_until": started_at - timedelta(minutes=15),
                "description": "Before the IVIG (demo)",
            },
        )
    order_services.record_vitals(
        infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=started_at - timedelta(minutes=10)
    )
    order_services.start_infusion(
        infusion_id=infusion.pk,
        user=nurse,
        checklist=ALL_CONFIRMED,
        vials=planned_vials(infusion, lot_number="DEMO-LOT-1", expiry_date=started_at.date() + timedelta(days=365)),
        started_at=started_at,
    )
    # The pump's total volume, as the nurse reads it at completion.
    order_services.complete_infusion(
        infusion_id=infusion.pk, user=nurse, completed_at=completed_at, volume_infused_ml=infusion.volume_ml
    )
    order_services.record_vitals(
        infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=completed_at + timedelta(minutes=20)
    )


def ensure_demo_orders(users: dict[str, Any], patients: dict[str, Patient]) -> int:
    created = 0
    for spec in DEMO_ORDERS:
        patient = patients[spec.mrn]
        if patient.orders.exists():
            continue
        # A course given in the past was written and verified an hour before its first infusion started.
        written = timezone.now()
        if spec.completed_hours_ago is not None:
            written = _first_infusion_times(spec.completed_hours_ago)[0] - timedelta(hours=1)
        order = order_services.create_order(
            data={
                "patient": patient,
                "regimen": spec.regimen,
                "product": Product.objects.get(name=spec.product),
                "baseline_platelet_count": spec.baseline,
                "baseline_collected_at": written - timedelta(hours=2),
                "first_infusion_on": timezone.localtime(written).date(),
                "notes": "Demo order",
            },
            user=users["hematologist"],
            now=written,
        )
        if spec.verify:
            order_services.verify_order(order_id=order.pk, user=users["pharmacist"], now=written)
        if spec.completed_hours_ago is not None:
            _give_first_infusion(order, users["nurse"], spec.completed_hours_ago)
        for label, count in zip(("24h", "48h", "72h"), spec.counts, strict=False):
            check = PlateletCheck.objects.get(order=order, label=label)
            monitoring_services.record_platelet_result(
                check_id=check.pk,
                platelet_count=count,
                collected_at=check.due_at - timedelta(minutes=30),
                bleeding=False,
                user=users["nurse"],
            )
        created += 1
    return created


IGA_OVERRIDE_REASON = (
    "No IgA-depleted product in stock today and bleeding risk is high: anti-IgA antibodies requested, slow start "
    "with premedication."
)


def _demo_order(patient: Patient, regimen: str, product: str, user: Any, written: Any, **kwargs: Any) -> Any:
    return order_services.create_order(
        data={
            "patient": patient,
            "regimen": regimen,
            "product": Product.objects.get(name=product),
            "baseline_platelet_count": 10,
            "baseline_collected_at": written - timedelta(hours=2),
            "first_infusion_on": timezone.localdate(written),
            "notes": "Demo order",
        },
        user=user,
        now=written,
        **kwargs,
    )


def ensure_overridden_course(users: dict[str, Any], patients: dict[str, Patient]) -> bool:
    """A course verified after the prescriber overrode iga_conflict with a reason (shown on the queue, the bedside
    and the response page)."""
    patient = patients["DEMO-0008"]
    if patient.orders.exists():
        return False
    written = timezone.now()
    order = _demo_order(
        patient,
        "one_dose_1g_per_kg",
        "Gamunex-C",
        users["hematologist"],
        written,
        overrides={"iga_conflict": IGA_OVERRIDE_REASON},
    )
    order_services.verify_order(order_id=order.pk, user=users["pharmacist"], now=written)
    return True


def ensure_course_on_hold(users: dict[str, Any], patients: dict[str, Patient]) -> bool:
    """A two-day course whose day 1 stopped on a grade-3 reaction (recorded through the bedside service), so day 2
    is on hold until a hematologist records a review."""
    patient = patients["DEMO-0009"]
    if patient.orders.exists():
        return False
    started_at = timezone.now() - timedelta(hours=20)
    written = started_at - timedelta(hours=1)
    order = _demo_order(patient, "two_days_1g_per_kg", "Privigen", users["hematologist"], written)
    order_services.verify_order(order_id=order.pk, user=users["pharmacist"], now=written)
    day1 = order.infusions.get(day_number=1)
    nurse = users["nurse"]
    order_services.record_vitals(
        infusion_id=day1.pk, user=nurse, values=NORMAL_VITALS, taken_at=started_at - timedelta(minutes=10)
    )
    order_services.start_infusion(
        infusion_id=day1.pk,
        user=nurse,
        checklist=ALL_CONFIRMED,
        vials=planned_vials(day1, lot_number="DEMO-LOT-2", expiry_date=started_at.date() + timedelta(days=365)),
        started_at=started_at,
    )
    order_services.record_reaction(
        infusion_id=day1.pk,
        user=nurse,
        reaction="hypotension",
        ctcae_grade=3,
        action_taken="Infusion stopped; fluid bolus; hematologist called",
        noted_at=started_at + timedelta(minutes=50),
    )
    return True


@transaction.atomic
def _demo_gtin(product_pk: int, index: int) -> str:
    """A made-up GTIN-14 in GS1's restricted-circulation range (prefix 020), with its check digit."""
    body = f"00200{product_pk:05d}{index:03d}"
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return body + str((10 - weighted % 10) % 10)


def ensure_demo_gtins(users: dict[str, Any]) -> int:
    """Made-up GTINs, marked demo, for every vial size of the catalogue's products that has none, so that the
    bedside's "Scan or type a vial" field can be tried with printed codes (docs/clinical-rules.md §A10)."""
    recorded = 0
    for product in Product.objects.filter(gtins=[]).exclude(vial_sizes_g=[]).order_by("pk"):
        order_services.record_gtins(
            product_id=product.pk,
            user=users["pharmacist"],
            gtins=[
                {"gtin": _demo_gtin(product.pk, index), "vial_size_g": size, "demo": True}
                for index, size in enumerate(sorted(product.vial_sizes_g), start=1)
            ],
            source="demo data: made-up GTINs, not the manufacturer's",
        )
        recorded += 1
    return recorded


def ensure_response_scenarios(users: dict[str, Any], patients: dict[str, Patient]) -> None:
    """What docs/clinical-rules.md §A12 changes, shown on the demo courses: a count after a platelet transfusion
    that counts toward nothing (DEMO-0006, who would otherwise look like a responder), and a typed count corrected
    with its reason (DEMO-0001). DEMO-0007's counts show a confirmed loss of response."""
    non_responder = patients["DEMO-0006"].orders.order_by("pk").first()
    if (
        non_responder is not None
        and not CoTherapy.objects.filter(patient=non_responder.patient, kind="platelet_transfusion").exists()
    ):
        given = timezone.now() - timedelta(hours=8)
        monitoring_services.record_co_therapy(
            patient_id=non_responder.patient_id,
            user=users["nurse"],
            data={
                "kind": "platelet_transfusion",
                "units": 1,
                "given_from": given,
                "given_until": given + timedelta(minutes=30),
                "description": "Before a dental extraction (demo)",
            },
        )
        monitoring_services.record_platelet_result(
            order_id=non_responder.pk,
            platelet_count=48,
            collected_at=given + timedelta(hours=3),
            bleeding=False,
            user=users["nurse"],
        )
    typed = patients["DEMO-0001"].orders.order_by("pk").first()
    if typed is not None and not PlateletResult.objects.filter(order=typed, status="corrected").exists():
        ended = typed.infusions.order_by("day_number").first().ended_at
        typo = monitoring_services.record_platelet_result(
            order_id=typed.pk,
            platelet_count=450,
            collected_at=ended + timedelta(hours=20),
            bleeding=False,
            user=users["nurse"],
        )
        monitoring_services.correct_platelet_result(
            result_id=typo.pk, user=users["nurse"], platelet_count=45, reason="Typed 450 for 45 (demo)"
        )


def ensure_renal_follow_up(users: dict[str, Any], patients: dict[str, Patient]) -> bool:
    """DEMO-0010's creatinine the day after his course: 118 µmol/L against 76 before it, a renal decline notified to
    the prescriber (docs/clinical-rules.md §A13). His creatinine after the course (48–96 h) is still to be taken."""
    patient = patients["DEMO-0010"]
    order = patient.orders.order_by("pk").first()
    ended = order.infusions.order_by("day_number").first().ended_at if order is not None else None
    if ended is None or patient.lab_results.filter(test="creatinine", collected_at__gt=ended).exists():
        return False
    patient_services.record_lab_result(
        patient_id=patient.pk,
        user=users["nurse"],
        test="creatinine",
        value="118",
        unit="umol/L",
        collected_at=ended + timedelta(hours=20),
    )
    return True


def load_demo_data(password_for: Callable[[str], str] = published_password) -> tuple[dict[str, int], dict[str, str]]:
    """Load the demo; the counts, and the passwords given to the users created now."""
    units = ensure_demo_units()
    users, passwords = ensure_demo_users(units, password_for)
    ensure_demo_gtins(users)
    patients = ensure_demo_patients(users["nurse"], units)
    ensure_demo_orders(users, patients)
    ensure_overridden_course(users, patients)
    ensure_course_on_hold(users, patients)
    ensure_response_scenarios(users, patients)
    ensure_renal_follow_up(users, patients)
    return {"users": len(users), "patients": len(patients), "units": len(units)}, passwords

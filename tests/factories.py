from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from patients.models import Patient, WeightMeasurement

TEST_PASSWORD = "correct-horse-battery-staple"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = "Test"
    last_name = factory.Sequence(lambda n: f"User{n}")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        if extracted:
            self.groups.add(Group.objects.get(name=extracted))
        self.save()

    @factory.post_generation
    def units(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """``units=[ward]``: the units the user works in (their worklist and review open on them)."""
        if create and extracted:
            from core.services import set_default_units

            set_default_units(user=self, units=extracted)


class UnitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = "core.Unit"
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Ward {n}")
    kind = "ward"
    site = "City Hospital"


class PatientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Patient
        skip_postgeneration_save = True

    mrn = factory.Sequence(lambda n: f"MRN{n:06d}")
    given_name = "Alex"
    family_name = factory.Sequence(lambda n: f"Patient{n}")
    birth_date = date(1980, 1, 1)
    sex = "male"
    height_cm = Decimal("178")
    serum_iga_mg_dl = Decimal("150")
    iga_measured_on = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=10))

    @factory.post_generation
    def labs(self, create: bool, extracted: Any, **kwargs: Any) -> None:
        """A day-old creatinine (80 µmol/L), hemoglobin (135 g/L) and group O+, as a patient sent for IVIG has
        (docs/clinical-rules.md §A9 renal_labs_missing, hemolysis_labs_missing); ``labs=False`` for none."""
        if not create or extracted is False:
            return
        from patients.models import LabResult

        taken = timezone.now() - timedelta(days=1)
        for test, value, unit, si, group in (
            ("creatinine", "80", "umol/L", Decimal("80.0"), ""),
            ("hemoglobin", "135", "g/L", Decimal("135.0"), ""),
            ("blood_group", "O+", "", None, "O+"),
        ):
            LabResult.objects.create(
                patient=self,
                test=test,
                value_sent=value,
                unit_sent=unit,
                value_si=si,
                blood_group=group,
                collected_at=taken,
            )

    @factory.post_generation
    def weight_kg(self, create: bool, extracted: Decimal | None, **kwargs: Any) -> None:
        if create and extracted is not False:
            WeightMeasurement.objects.create(
                patient=self,
                weight_kg=Decimal(str(extracted)) if extracted is not None else Decimal("82"),
                measured_at=kwargs.get("measured_at", timezone.now() - timedelta(days=1)),
            )


def verified_order(
    *,
    regimen: str = "one_dose_1g_per_kg",
    product_name: str = "Gamunex-C",
    patient: Any = None,
    prescriber: Any = None,
    verifier: Any = None,
    first_infusion_on: Any = None,
    **patient_kwargs: Any,
):
    """A verified order through the real services (prescriber and verifier are created when not given)."""
    from infusions import services
    from infusions.models import Product

    prescriber = prescriber or UserFactory(role="hematologist")
    verifier = verifier or UserFactory(role="pharmacist")
    patient = patient or PatientFactory(**patient_kwargs)
    first_infusion_on = first_infusion_on or timezone.localdate()
    # A course in the past is written and verified on the morning of its first day, as it would have been.
    written = min(timezone.now(), written_on_the_morning_of(first_infusion_on))
    order = services.create_order(
        data={
            "patient": patient,
            "regimen": regimen,
            "product": Product.objects.get(name=product_name),
            "baseline_platelet_count": 12,
            "baseline_collected_at": written - timedelta(hours=1),
            "first_infusion_on": first_infusion_on,
        },
        user=prescriber,
        now=written,
    )
    return services.verify_order(order_id=order.pk, user=verifier, now=written)


def written_on_the_morning_of(day: Any) -> Any:
    from datetime import datetime, time

    return timezone.make_aware(datetime.combine(day, time(7, 0)))


NORMAL_VITALS = {
    "temperature_c": "36.8",
    "heart_rate_bpm": 72,
    "systolic_bp_mmhg": 120,
    "diastolic_bp_mmhg": 75,
    "respiratory_rate_per_min": 16,
    "spo2_percent": 98,
}
FULL_CHECKLIST = {
    code: True
    for code in (
        "patient_identity",
        "iga_reviewed",
        "cardiac_fluid_status",
        "hydration",
        "premedication",
        "emergency_drugs",
        "product_and_dose",
        "dedicated_line",
    )
}


def day_vials(
    infusion: Any, *, lot_prefix: str = "LOT", expiry: Any = None, lots: list[str] | None = None
) -> list[dict[str, Any]]:
    """The day's planned vials (``vials_per_day``) of the order's product, typed as a nurse records them: one
    entry per physical vial, with a lot (``lots`` in turn, or numbered) and an expiry a year ahead
    (docs/clinical-rules.md §A10 vial_mismatch)."""
    order = type(infusion.order).objects.get(pk=infusion.order_id)  # as it is now, should it have been recalculated
    expiry = expiry or timezone.localdate() + timedelta(days=365)
    vials = []
    for planned in order.vials_per_day:
        for _ in range(int(planned["count"])):
            vials.append(
                {
                    "product": order.product_id,
                    "lot_number": lots[len(vials) % len(lots)] if lots else f"{lot_prefix}-{len(vials) + 1}",
                    "expiry_date": expiry.isoformat(),
                    "vial_size_g": str(planned["size_g"]),
                }
            )
    return vials


def day_vials_form(infusion: Any, **kwargs: Any) -> dict[str, list[str]]:
    """``day_vials`` as the bedside page's start form posts them: the typed vials' parallel lists."""
    vials = day_vials(infusion, **kwargs)
    return {
        "vial_product": [str(v["product"]) for v in vials],
        "vial_size_g": [v["vial_size_g"] for v in vials],
        "vial_lot": [v["lot_number"] for v in vials],
        "vial_expiry": [v["expiry_date"] for v in vials],
    }


def given_order(
    *, completed_hours_ago: float = 30, regimen: str = "one_dose_1g_per_kg", nurse: Any = None, **kwargs: Any
):
    """A verified order whose first infusion ran and completed ``completed_hours_ago`` (late entry)."""
    from datetime import timedelta

    from infusions import services

    completed_at = timezone.now() - timedelta(hours=completed_hours_ago)
    started_at = completed_at - timedelta(hours=2)
    kwargs.setdefault("first_infusion_on", timezone.localtime(started_at).date())
    order = verified_order(regimen=regimen, **kwargs)
    nurse = nurse or UserFactory(role="nurse")
    infusion = order.infusions.order_by("day_number").first()
    services.record_vitals(infusion_id=infusion.pk, user=nurse, values=NORMAL_VITALS, taken_at=started_at)
    services.start_infusion(
        infusion_id=infusion.pk, user=nurse, checklist=FULL_CHECKLIST, vials=day_vials(infusion), started_at=started_at
    )
    # The pump's total: the planned volume (the two-hour run above is shorter than a real titration).
    services.complete_infusion(
        infusion_id=infusion.pk, user=nurse, completed_at=completed_at, volume_infused_ml=infusion.volume_ml
    )
    order.refresh_from_db()
    return order


def non_responding_order(*, prescriber: Any, nurse: Any = None) -> Any:
    """docs/clinical-rules.md reference §9.2 case C: baseline 5, then 9, 14, 22 at 24, 48 and 72 h: no response,
    repeat flagged."""
    from datetime import timedelta

    from monitoring import services
    from monitoring.models import PlateletCheck

    order = given_order(prescriber=prescriber, nurse=nurse, completed_hours_ago=100)
    order.baseline_platelet_count = 5
    order.save(update_fields=["baseline_platelet_count"])
    started = order.infusions.get(day_number=1).started_at
    for label, count, hours in [("24h", 9, 24), ("48h", 14, 48), ("72h", 22, 72)]:
        services.record_platelet_result(
            check_id=PlateletCheck.objects.get(order=order, label=label).pk,
            platelet_count=count,
            collected_at=started + timedelta(hours=hours),
            bleeding=False,
        )
    return order


def prehydrate(patient: Any, *, at: Any = None, until: Any = None, volume_ml: int = 500, user: Any = None) -> Any:
    """A pre-hydration co-therapy (docs/clinical-rules.md §A13 "Fluid"), given at ``at`` (default an hour ago), a
    single bolus unless ``until`` says when the drip ended: what a start for a patient with a renal or thrombosis
    risk factor looks for within the 12 h before it (§A10 prehydration_not_given)."""
    from patients.models import CoTherapy, CoTherapyKind

    return CoTherapy.objects.create(
        patient=patient,
        kind=CoTherapyKind.PREHYDRATION,
        drug="sodium chloride 0.9 %",
        volume_ml=volume_ml,
        given_from=at or timezone.now() - timedelta(hours=1),
        given_until=until,
        recorded_by=user or UserFactory(role="nurse"),
    )


def authenticator_for(user: Any) -> Any:
    """The user's confirmed authenticator app (a TOTP device), created on first use, as after a real enrolment."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device or TOTPDevice.objects.create(user=user, name="Authenticator app", confirmed=True)


def current_totp_code(device: Any) -> str:
    """The code the user's phone would show now, or the next one when this one was already used: django-otp refuses
    a code twice, and accepts the next period's (its tolerance), so two sign-ins within 30 s both work."""
    import time

    from django_otp.oath import TOTP

    device.refresh_from_db()
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time()
    if totp.t() <= device.last_t:
        totp.time += device.step * (device.last_t + 1 - totp.t())
    return f"{totp.token():0{device.digits}d}"

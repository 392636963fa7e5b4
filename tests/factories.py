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
    def weight_kg(self, create: bool, extracted: Decimal | None, **kwargs: Any) -> None:
        if create and extracted is not False:
            WeightMeasurement.objects.create(
                patient=self,
                weight_kg=Decimal(str(extracted)) if extracted is not None else Decimal("82"),
                measured_at=kwargs.get("measured_at", timezone.now() - timedelta(days=1)),
            )

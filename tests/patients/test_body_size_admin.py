"""The admin has no reason field: a height that trips a body-size stop (§A9) is refused there on its field."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from tests.factories import PatientFactory

pytestmark = pytest.mark.db


def test_a_65_cm_adult_is_refused_in_the_admin_and_sent_to_the_patient_page(client, db) -> None:
    admin_user = get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-tests-only")
    patient = PatientFactory(height_cm=Decimal("178"), weight_kg=Decimal("70"))
    client.force_login(admin_user)
    page = client.get(f"/admin/patients/patient/{patient.pk}/change/")
    form = {
        key: value
        for key, value in page.context["adminform"].form.initial.items()
        if value is not None and not isinstance(value, list)
    }
    form.update(
        {
            "birth_date": patient.birth_date.isoformat(),
            "height_cm": "65",
            "iga_measured_on": patient.iga_measured_on.isoformat(),
            "weights-TOTAL_FORMS": "1",
            "weights-INITIAL_FORMS": "1",
            "weights-0-id": str(patient.weights.get().pk),
            "weights-0-patient": str(patient.pk),
        }
    )

    response = client.post(f"/admin/patients/patient/{patient.pk}/change/", form)

    assert response.status_code == 200
    assert "Record this height on the patient page, with a reason." in response.content.decode()
    patient.refresh_from_db()
    assert patient.height_cm == Decimal("178.0")

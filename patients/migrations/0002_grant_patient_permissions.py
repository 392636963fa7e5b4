from __future__ import annotations

from django.db import migrations

from core.migration_helpers import grant_permissions, noop

# docs/api.md "Who may do what": patients are created and edited by nurses and hematologists; every role reads.
GRANTS = {
    "nurse": [
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "patients.view_weightmeasurement",
        "patients.add_weightmeasurement",
    ],
    "hematologist": [
        "patients.view_patient",
        "patients.add_patient",
        "patients.change_patient",
        "patients.view_weightmeasurement",
        "patients.add_weightmeasurement",
    ],
    "pharmacist": ["patients.view_patient", "patients.view_weightmeasurement"],
}


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("patients", "0001_patient_and_weight_history"), ("ivig_tracker", "0002_create_role_groups")]
    operations = [migrations.RunPython(grant, noop)]

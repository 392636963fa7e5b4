"""The structured product fields the safety stops read, filled in for the shipped catalogue from its stabiliser
and label notes (docs/clinical-rules.md reference §4.1), and the permissions of the new actions."""

from __future__ import annotations

from django.db import migrations

from core.migration_helpers import grant_permissions, noop

# From the catalogue's stabiliser column: Flebogamma contains D-sorbitol, Octagam 10 % maltose, Gammagard S/D
# glucose (its 5 % solution); Gammagard S/D is a powder reconstituted at 5 % or 10 %.
SORBITOL = ["Flebogamma 10 % DIF", "Flebogamma 5 % DIF"]
MALTOSE = ["Octagam 10 %"]
GLUCOSE = ["Gammagard S/D"]
RECONSTITUTED = ["Gammagard S/D"]

GRANTS = {
    "hematologist": ["infusions.review_hold"],
    # Pharmacy records the site's values for what a label leaves unknown.
    "pharmacist": ["infusions.change_product"],
}


def fill_product_fields(apps, schema_editor):
    product_model = apps.get_model("infusions", "Product")
    product_model.objects.filter(name__in=SORBITOL).update(contains_sorbitol=True)
    product_model.objects.filter(name__in=MALTOSE).update(contains_maltose=True)
    product_model.objects.filter(name__in=GLUCOSE).update(contains_glucose=True)
    product_model.objects.filter(name__in=RECONSTITUTED).update(reconstituted=True)


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("infusions", "0007_safety_stops_fields_records_and_one_open_course")]
    operations = [migrations.RunPython(fill_product_fields, noop), migrations.RunPython(grant, noop)]

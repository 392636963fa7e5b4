from __future__ import annotations

from django.db import migrations

from core.migration_helpers import grant_permissions, noop

# docs/api.md "Who may do what": platelet results are entered by nurses and hematologists; the repeat-dose decision
# is the hematologist's; every role reads.
READ = ["monitoring.view_plateletcheck", "monitoring.view_plateletresult", "monitoring.view_orderresponse"]
GRANTS = {
    "nurse": [*READ, "monitoring.record_platelet_result"],
    "hematologist": [*READ, "monitoring.record_platelet_result", "monitoring.decide_repeat_dose"],
    "pharmacist": [*READ],
}


def grant(apps, schema_editor):
    grant_permissions(apps, GRANTS)


class Migration(migrations.Migration):
    dependencies = [("monitoring", "0001_checks_results_notifications"), ("ivig_tracker", "0002_create_role_groups")]
    operations = [migrations.RunPython(grant, noop)]

from __future__ import annotations

from django.apps import AppConfig


class InteropConfig(AppConfig):
    """Laboratory and EHR interoperability: HL7 v2 results in, FHIR R4 out. It sits on top of the clinical
    apps (it may import monitoring, infusions and patients; they never import it)."""

    name = "interop"
    verbose_name = "Lab and EHR interoperability"

from __future__ import annotations

from django import forms

from patients.models import Patient
from patients.services import PATIENT_FIELDS
from patients.validators import validate_weight_kg


class PatientForm(forms.ModelForm):
    weight_kg = forms.DecimalField(
        label="Weight (kg)",
        max_digits=5,
        decimal_places=1,
        required=False,
        validators=[validate_weight_kg],
        help_text="Recorded as a new weighing now; earlier weights stay in the history.",
    )

    class Meta:
        model = Patient
        fields = list(PATIENT_FIELDS)
        widgets = {
            "birth_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "iga_measured_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "thrombosis_risk_details": forms.Textarea(attrs={"rows": 2}),
            "allergies": forms.Textarea(attrs={"rows": 2}),
            "previous_infusion_reactions": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"height_cm": "Height (cm)"}

from __future__ import annotations

from typing import Any

from django import forms

from core.forms import TypedInputForm
from patients.models import Patient
from patients.services import PATIENT_FIELDS
from patients.validators import validate_weight_kg


class PatientForm(TypedInputForm, forms.ModelForm):
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
            "acute_factors_assessed_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "expected_delivery_date": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "pregnancy_review_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "pregnancy_ended_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "anti_iga_antibodies_on": forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
            "thrombosis_risk_details": forms.Textarea(attrs={"rows": 2}),
            "allergies": forms.Textarea(attrs={"rows": 2}),
            "previous_infusion_reactions": forms.Textarea(attrs={"rows": 2}),
        }
        labels = {"height_cm": "Height (cm)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Not tested is the usual answer: a form left at it (or sent without it) means "unknown".
        self.fields["anti_iga_antibodies"].required = False

    def clean_anti_iga_antibodies(self) -> str:
        return self.cleaned_data.get("anti_iga_antibodies") or "unknown"


class ReportedIvigReactionForm(TypedInputForm, forms.Form):
    """A reaction to IVIG given elsewhere: shape and types only; the service says what is clinically wrong (no
    grade and no anaphylaxis, a future date) in words, not as a violated constraint."""

    occurred_on = forms.DateField(label="Date", widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    product = forms.CharField(label="Product", max_length=100, help_text="The IVIG brand, as reported.")
    ctcae_grade = forms.TypedChoiceField(
        label="CTCAE grade",
        choices=[("", "not graded")] + [(str(g), str(g)) for g in range(1, 6)],
        coerce=int,
        empty_value=None,
        required=False,
    )
    anaphylaxis = forms.BooleanField(label="Anaphylaxis", required=False)
    where = forms.CharField(label="Where it was given", max_length=200)
    details = forms.CharField(label="Details", required=False, widget=forms.Textarea(attrs={"rows": 2}))

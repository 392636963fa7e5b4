from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone

from infusions.dosing import REGIMENS
from infusions.models import Order, Product
from patients.models import Patient


class ProductChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, product: Product) -> str:
        iga = (
            "IgA-depleted"
            if product.iga_depleted
            else (
                f"IgA {product.iga_content_qualifier} {product.iga_content_ug_per_ml} µg/mL"
                if product.iga_content_ug_per_ml is not None
                else "IgA unknown"
            )
        )
        itp = "" if product.itp_indication else " · no ITP indication"
        return f"{product.name} ({product.manufacturer}, {iga}{itp})"


class OrderForm(forms.Form):
    patient = forms.ModelChoiceField(queryset=Patient.objects.all())
    regimen = forms.ChoiceField(choices=[(code, regimen.label) for code, regimen in REGIMENS.items()])
    product = ProductChoiceField(queryset=Product.objects.filter(on_formulary=True, discontinued=False))
    baseline_platelet_count = forms.IntegerField(label="Baseline platelet count (×10⁹/L)", min_value=0, max_value=2000)
    first_infusion_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    emergency = forms.BooleanField(required=False, label="Emergency (life-threatening bleeding or urgent surgery)")
    iga_override_reason = forms.CharField(
        required=False,
        label="IgA override reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Only for an IgA-deficient patient given a product that is not IgA-depleted.",
    )
    previous_order = forms.ModelChoiceField(
        queryset=Order.objects.none(), required=False, help_text="Required for a repeat dose."
    )
    dosing_weight_override_kg = forms.DecimalField(
        required=False, max_digits=6, decimal_places=2, min_value=0, label="Override dosing weight (kg)"
    )
    dosing_weight_override_reason = forms.CharField(required=False, label="Reason for the override")
    notes = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["first_infusion_on"].initial = timezone.localdate()
        self.fields["regimen"].initial = "one_dose_1g_per_kg"
        patient_id = self.data.get("patient") or self.initial.get("patient")
        if patient_id and str(patient_id).isdigit():
            self.fields["previous_order"].queryset = Order.objects.filter(patient_id=patient_id).exclude(
                status="cancelled"
            )

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.utils import timezone

from core.forms import TypedInputForm, typed_id
from infusions.dosing import REGIMENS
from infusions.models import Order, Product
from infusions.services.catalogue import SITE_FIELD_LABELS, SITE_FIELDS, label_gives
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


class OrderForm(TypedInputForm, forms.Form):
    patient = forms.ModelChoiceField(queryset=Patient.objects.all())
    regimen = forms.ChoiceField(choices=[(code, regimen.label) for code, regimen in REGIMENS.items()])
    product = ProductChoiceField(queryset=Product.objects.filter(on_formulary=True, discontinued=False))
    prepared_concentration_percent = forms.TypedChoiceField(
        choices=[("", "—"), ("5", "5 %"), ("10", "10 %")],
        coerce=Decimal,
        empty_value=None,
        required=False,
        label="Prepared concentration",
        help_text="Only for a product reconstituted by pharmacy (Gammagard S/D): the pump rates are worked out at it.",
    )
    baseline_platelet_count = forms.IntegerField(label="Baseline platelet count (×10⁹/L)", min_value=0, max_value=2000)
    first_infusion_on = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"))
    emergency = forms.BooleanField(required=False, label="Emergency (life-threatening bleeding or urgent surgery)")
    estimated_weight_kg = forms.DecimalField(
        required=False,
        max_digits=5,
        decimal_places=1,
        min_value=0,
        label="Estimated weight (kg)",
        help_text="Emergency orders only, when the patient cannot be weighed first: the dose goes on it, it never "
        "enters the weight history, and the patient is weighed as soon as possible.",
    )
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
        patient_id = typed_id(self.data.get("patient") or self.initial.get("patient"))
        if patient_id is not None:
            self.fields["previous_order"].queryset = Order.objects.filter(patient_id=patient_id).exclude(
                status="cancelled"
            )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        product: Product | None = cleaned.get("product")
        prepared = cleaned.get("prepared_concentration_percent")
        if product is not None and product.reconstituted and prepared is None:
            self.add_error(
                "prepared_concentration_percent",
                f"{product.name} is reconstituted: choose the concentration pharmacy prepares it at (5 % or 10 %).",
            )
        return cleaned


class SiteValuesForm(forms.Form):
    """The site's values for one product: a field for each value its label does not give (a site value already
    recorded may be corrected), and the source. Every value is typed as text and checked by the service, so an
    error is shown beside its field with what was typed."""

    source = forms.CharField(
        max_length=300,
        label="Source of these values",
        help_text="The site protocol, the SmPC section... Required.",
        required=False,
    )

    def __init__(self, product: Product, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"product{product.pk}")
        super().__init__(*args, **kwargs)
        self.product = product
        for name in SITE_FIELDS:
            if label_gives(product, name):
                continue
            label = SITE_FIELD_LABELS[name]
            field: forms.Field
            if name.startswith("contains_"):
                field = forms.BooleanField(required=False, label=label)
            else:
                field = forms.CharField(required=False, label=label)
            current = getattr(product, name)
            if name in (product.site_values or {}):
                entry = product.site_values[name]
                field.help_text = f"Site value from {entry['source']} ({entry['by']})."
                field.initial = ", ".join(str(v) for v in current) if isinstance(current, list) else current
            self.fields[name] = field
        self.order_fields([*SITE_FIELDS, "source"])

    def values(self) -> dict[str, Any]:
        """What was filled in: an empty field or an unticked sugar records nothing."""
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name in SITE_FIELDS and value not in ("", None, False)
        }

"""Every state change of orders and infusions, one function each (docs/architecture.md "The domain apps").

Split by sub-domain: ``orders`` (working out a dose, draft → verified, cancelled), ``bedside`` (giving an
infusion) and ``catalogue`` (the site's values for what a label leaves unknown). Callers import this package and
write ``services.verify_order``.
"""

from __future__ import annotations

from infusions.services.bedside import (
    CHECKLIST_ITEMS,
    GLUCOSE_METHOD_ITEM,
    RUNNING,
    bedside_dry_run,
    change_rate,
    checklist_items,
    complete_infusion,
    hold_course,
    max_rate_ml_per_h,
    pause_infusion,
    record_reaction,
    record_vitals,
    resume_infusion,
    start_infusion,
    stop_infusion,
    suggested_resume_rate_ml_per_h,
    volume_infused_ml,
    withhold_infusion,
)
from infusions.services.catalogue import SITE_FIELDS, record_gtins, record_site_values
from infusions.services.fluids import (
    fluid_balance,
    fluid_balance_kept,
    fluid_balance_ml,
    fluid_balance_reasons,
    prehydration_due,
    record_fluid_entry,
)
from infusions.services.orders import (
    ORDER_INPUT_FIELDS,
    WORKING_FIELDS,
    calculate,
    cancel_order,
    change_product,
    create_order,
    dosing_config,
    patient_facts,
    preview_order,
    rate_plan_json,
    recalculate_order,
    return_order,
    review_hold,
    verification_dry_run,
    verification_dry_runs,
    verify_order,
    working_fields,
)
from infusions.services.safety import renal_risk_factors
from infusions.services.units import MOVABLE_STATUSES, move_infusion_to_unit

__all__ = [
    "MOVABLE_STATUSES",
    "move_infusion_to_unit",
    "CHECKLIST_ITEMS",
    "GLUCOSE_METHOD_ITEM",
    "ORDER_INPUT_FIELDS",
    "RUNNING",
    "SITE_FIELDS",
    "WORKING_FIELDS",
    "bedside_dry_run",
    "calculate",
    "hold_course",
    "renal_risk_factors",
    "cancel_order",
    "change_product",
    "change_rate",
    "checklist_items",
    "complete_infusion",
    "create_order",
    "dosing_config",
    "fluid_balance",
    "fluid_balance_kept",
    "fluid_balance_ml",
    "fluid_balance_reasons",
    "max_rate_ml_per_h",
    "patient_facts",
    "pause_infusion",
    "preview_order",
    "rate_plan_json",
    "recalculate_order",
    "record_reaction",
    "record_fluid_entry",
    "prehydration_due",
    "record_gtins",
    "record_site_values",
    "record_vitals",
    "resume_infusion",
    "return_order",
    "review_hold",
    "start_infusion",
    "stop_infusion",
    "suggested_resume_rate_ml_per_h",
    "verification_dry_run",
    "verification_dry_runs",
    "verify_order",
    "volume_infused_ml",
    "withhold_infusion",
    "working_fields",
]

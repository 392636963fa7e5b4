"""Pure patient rules (no Django): the IgA-deficiency test of docs/clinical-rules.md §A4."""

from __future__ import annotations

from decimal import Decimal

# docs/clinical-rules.md §A4: serum IgA below 7 mg/dL (0.07 g/L) is IgA-deficient; the lab's own cut-off is a setting.
DEFAULT_IGA_DEFICIENCY_CUTOFF_MG_DL = Decimal("7")


def is_iga_deficient(
    serum_iga_mg_dl: Decimal | None, cutoff_mg_dl: Decimal = DEFAULT_IGA_DEFICIENCY_CUTOFF_MG_DL
) -> bool | None:
    """True below the cut-off, False at or above it, None when no result is known."""
    if serum_iga_mg_dl is None:
        return None
    level = Decimal(serum_iga_mg_dl)
    if level < 0:
        raise ValueError("serum IgA must not be negative")
    return level < Decimal(cutoff_mg_dl)

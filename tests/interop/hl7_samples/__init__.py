"""HL7 v2 sample messages written the way different laboratory systems send them (Beaker-style v2.5.1 with
UCUM units, a PathNet-style v2.3 SN value in K/uL without OBX-14, a German MOLIS-style local code in /uL, a
full blood count with haemoglobin, two counts in one message, an ADT, a message with OBX before OBR).

The files use ``$name`` placeholders (``string.Template``: ``$`` is not an HL7 delimiter) for what each test
chooses: control ID, MRN, value, status, sample ID and times. They are stored one segment a line; ``sample()``
joins the segments with CR, as on the wire, unless told otherwise.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from string import Template
from typing import Any

HERE = Path(__file__).resolve().parent


def sample(name: str, *, separator: str = "\r", **values: Any) -> str:
    lines = (HERE / name).read_text(encoding="utf-8").splitlines()
    text = Template("\n".join(lines)).substitute({key: str(value) for key, value in values.items()})
    return separator.join(text.split("\n")) + separator


def hl7_time(moment: datetime, *, offset_hours: float | None = None, zone: Any = None) -> str:
    """An HL7 DTM: with ``offset_hours`` the time at that offset with its +HHMM suffix; otherwise the wall
    time in ``zone`` (the hospital's zone, UTC by default) without an offset."""
    if offset_hours is not None:
        local = moment.astimezone(timezone(timedelta(hours=offset_hours)))
        return local.strftime("%Y%m%d%H%M%S%z")
    return moment.astimezone(zone or UTC).strftime("%Y%m%d%H%M%S")

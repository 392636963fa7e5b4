"""Reading an HL7 v2 ORU^R01 platelet result, without the database.

python-hl7 splits the message; this module decides what it means: is it a message we can process at all (else
AR), which OBX segments are platelet counts, their value in ×10⁹/L, their status and their collection time
(else AE). Everything it needs, the hospital's time zone, the local codes and the current time included, comes
in as arguments, so every rule is testable with plain values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import hl7

from patients.lab_rules import BloodGroupError, blood_group
from patients.rules import hidden_character_problem

ACCEPT, ERROR, REJECT = "AA", "AE", "AR"

# HL7 table 0357 (message error condition codes), sent in ERR-3.
ERROR_CONDITIONS = {
    100: "Segment sequence error",
    101: "Required field missing",
    102: "Data type error",
    103: "Table value not found",
    200: "Unsupported message type",
    201: "Unsupported event code",
    202: "Unsupported processing id",
    203: "Unsupported version id",
    204: "Unknown key identifier",
    205: "Duplicate key identifier",
    207: "Application internal error",
}

# docs/clinical-rules.md reference §5.4: 777-3 verified; 26515-7 (method-less) and 778-1 (manual count) accepted
# too, marked [U] there: laboratories send them for the same count.
PLATELET_LOINC_CODES = frozenset({"777-3", "26515-7", "778-1"})
# How laboratories write the LOINC coding system in OBX-3 (HL7 table 0396 says LN); unstated counts as LOINC.
LOINC_SYSTEMS = frozenset({"LN", "LOINC", ""})
PLATELET_COUNT = "platelet_count"

# The names laboratories give a platelet count in OBX-3's text (English, German, French; PLT as a code). A result
# named so but neither a LOINC code nor a mapped local code is an error, never ignored: the hospital maps the code.
# Indices of platelets (mean volume, distribution width, plateletcrit, immature fraction) are not counts.
_PLATELET_NAME = re.compile(
    r"\b(plt|platelets?|thrombozyten|thrombocytes?|thrombocyte|plaquettes|plättchen|thrombos?)\b", re.IGNORECASE
)
# What is about platelets but not their count: indices (mean volume, distribution width, plateletcrit, immature or
# large fraction), a smear's estimate or morphology, clumps, function and antibodies.
_PLATELET_INDEX = re.compile(
    r"(?<!#/)volume|\bmpv\b|\bpdw\b|\bpct\b|crit|distribution|width|immature|\bipf\b|large|l-?cr|mean|estimat|clump|"
    r"morpholog|aggregat|function|antibod|giant|satellit|comment",
    re.IGNORECASE,
)

# OBX-11 (HL7 table 0085) values we act on.
FINAL, CORRECTED, PRELIMINARY = "F", "C", "P"
CANNOT_OBTAIN, DELETED, WRONG = "X", "D", "W"
RECORDED_STATUSES = (FINAL, CORRECTED, PRELIMINARY)
SUPPORTED_STATUSES = (FINAL, CORRECTED, PRELIMINARY, CANNOT_OBTAIN, DELETED, WRONG)

# Units (OBX-6) as laboratories write them, compared case-insensitively with spaces dropped, µ/μ/mc read as u and
# a superscript ³ as 3, to the factor that gives ×10⁹/L. 10*9/L (UCUM) = giga per litre = 10*3/uL = K/uL = per nL
# (1 ×10⁹/L = 10⁹ per 10⁶ µL = 1000/µL); cells per µL (= per mm³) divide by 1000. "S" stands for the caret some
# systems write unescaped or as the escape \S\ reads back.
_PER_LITRE_9 = (
    *("10*9/l", "10^9/l", "10e9/l", "10s9/l", "x10*9/l", "x10^9/l", "x10e9/l", "x10s9/l"),
    *("g/l", "giga/l", "/nl"),
)
_PER_UL_3 = (
    *("10*3/ul", "10^3/ul", "10e3/ul", "x10*3/ul", "x10^3/ul", "x10e3/ul", "k/ul", "thou/ul"),
    *("10*3/mm3", "10^3/mm3", "x10*3/mm3", "x10^3/mm3", "1000/mm3", "x1000/mm3", "1000/ul", "x1000/ul"),
)
UNIT_FACTORS: dict[str, Decimal] = {
    **dict.fromkeys(_PER_LITRE_9, Decimal(1)),
    **dict.fromkeys(_PER_UL_3, Decimal(1)),
    **dict.fromkeys(("/ul", "/mm3", "{cells}/ul", "cells/ul"), Decimal("0.001")),
}
MAX_PLAUSIBLE_COUNT = 2000  # docs/clinical-rules.md §A6: plausible counts are 0-2000 ×10⁹/L

_SEGMENT_ID = re.compile(r"[A-Z][A-Z0-9]{2}")
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)")
# HL7 DTM: YYYYMMDDHHMM[SS[.S[S[S[S]]]]][+/-ZZZZ]; a collection time needs at least the minute.
_TIMESTAMP = re.compile(r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?(?:([+-])(\d{2})(\d{2}))?")


class HL7Error(Exception):
    """What goes back in the ACK: AR (``REJECT``) when the message cannot be processed at all, AE (``ERROR``)
    for an application error; ``condition`` is the HL7 table 0357 code and ``location`` the ERR-2 position
    (``SEG^sequence^field``)."""

    def __init__(self, text: str, *, ack_code: str = ERROR, condition: int = 207, location: str = "") -> None:
        super().__init__(text)
        self.text = text
        self.ack_code = ack_code
        self.condition = condition
        self.location = location


def rejected(text: str, *, condition: int = 100, location: str = "") -> HL7Error:
    return HL7Error(text, ack_code=REJECT, condition=condition, location=location)


# Results as laboratories send them (ORU^R01) and as analysers and point-of-care devices do (OUL^R22, with its
# specimen segment SPM).
SUPPORTED_MESSAGE_TYPES = frozenset({("ORU", "R01"), ("OUL", "R22")})


@dataclass(frozen=True)
class Header:
    control_id: str
    message_code: str
    trigger_event: str
    sending_application: str
    sending_facility: str
    receiving_application: str
    receiving_facility: str
    processing_id: str
    version: str

    @property
    def message_type(self) -> str:
        return f"{self.message_code}^{self.trigger_event}" if self.trigger_event else self.message_code


@dataclass(frozen=True)
class Observation:
    """One platelet OBX. ``platelet_count`` and ``collected_at`` are None for X/D/W (no value to record)."""

    obx_index: int  # 1-based among the message's OBX segments (ERR-2 sequence)
    code: str
    sub_id: str
    status: str
    specimen_id: str  # OBR-3 filler order number, else OBR-2 placer order number
    value_original: str
    unit_original: str
    value_10e9_per_l: Decimal | None
    platelet_count: int | None
    collected_at: datetime | None
    reference_range: str = ""  # OBX-7 as the laboratory wrote it
    abnormal_flag: str = ""  # OBX-8 (HL7 table 0078: L, H, LL, HH, N, A...)

    @property
    def location(self) -> str:
        return f"OBX^{self.obx_index}"


@dataclass(frozen=True)
class LabObservation:
    """One creatinine, hemoglobin or ABO/Rh OBX (docs/clinical-rules.md §A13): its value and unit as sent (converted
    by the unit, never by the code), with its status and collection time (None for X/D/W)."""

    obx_index: int
    test: str  # creatinine | hemoglobin | blood_group
    code: str
    status: str
    value_text: str
    unit_text: str
    collected_at: datetime | None

    @property
    def location(self) -> str:
        return f"OBX^{self.obx_index}"


# docs/clinical-rules.md §A13: the LOINC codes of the laboratory values kept beside the platelet count.
LAB_LOINC_CODES = {"14682-9": "creatinine", "2160-0": "creatinine", "718-7": "hemoglobin", "882-1": "blood_group"}
LAB_TESTS = frozenset(LAB_LOINC_CODES.values())


@dataclass(frozen=True)
class Observations:
    platelets: list[Observation]
    other_obx: int  # OBX segments that are neither platelet counts nor the laboratory values kept
    labs: tuple[LabObservation, ...] = ()


# --- The envelope ------------------------------------------------------------------------------------------


def normalise(raw: str) -> str:
    """Segments separated by CR, as HL7 requires: lab systems and files also use LF or CRLF. MLLP framing
    characters that leaked into an HTTP body and blank lines are dropped."""
    text = raw.lstrip("\ufeff").replace("\r\n", "\r").replace("\n", "\r").strip(" \t\r\x0b\x1c\x00\ufeff")
    return "\r".join(segment for segment in text.split("\r") if segment.strip())


def comparable(raw: str) -> str:
    """The message for "is this a resend?": normalised segments, MSH-7 (the time the message was built)
    blanked, since some interface engines rebuild it when they resend."""
    text = normalise(raw)
    if not text.startswith("MSH") or len(text) < 4:
        return text
    header, _, rest = text.partition("\r")
    fields = header.split(text[3])
    if len(fields) > 6:
        fields[6] = ""
    return text[3].join(fields) + ("\r" + rest if rest else "")


def read_message(raw: str) -> hl7.Message:
    """Parse with python-hl7; AR for anything that is not one HL7 v2 message."""
    text = normalise(raw)
    if not text.startswith("MSH") or len(text) < 8:
        raise rejected("Not an HL7 v2 message: it must start with an MSH segment.")
    separator = text[3]
    if separator.isalnum() or separator.isspace():
        raise rejected(f"Not an HL7 v2 message: {separator!r} cannot be the field separator (MSH-1).")
    try:
        message = hl7.parse(text)
    except Exception as exc:  # python-hl7 raises plain IndexError/ValueError on broken input
        raise rejected(f"The message cannot be parsed as HL7 v2: {exc}") from exc
    for position, segment in enumerate(message, start=1):
        segment_id = str(segment[0])
        if not _SEGMENT_ID.fullmatch(segment_id):
            raise rejected(f"Segment {position} ({segment_id[:20]!r}) is not an HL7 segment.")
    return message


def _text(message: hl7.Message, segment: hl7.Segment, field: int, component: int = 1, repetition: int = 1) -> str:
    try:
        value = segment.extract_field(1, field, repetition, component)
    except IndexError:
        return ""
    return str(message.unescape(str(value))).strip() if value else ""


def _field_text(message: hl7.Message, segment: hl7.Segment, field: int) -> str:
    """A whole field as sent (components and repetitions included), for the audit and error messages."""
    try:
        return str(segment(field)).strip()
    except IndexError:
        return ""


def _repetitions(segment: hl7.Segment, field: int) -> int:
    try:
        value = segment(field)
    except IndexError:
        return 0
    return len(value) if value and isinstance(value[0], hl7.Repetition) else 1


def read_header(message: hl7.Message) -> Header:
    msh = message.segment("MSH")
    return Header(
        control_id=_text(message, msh, 10),
        message_code=_text(message, msh, 9, 1),
        trigger_event=_text(message, msh, 9, 2),
        sending_application=_text(message, msh, 3),
        sending_facility=_text(message, msh, 4),
        receiving_application=_text(message, msh, 5),
        receiving_facility=_text(message, msh, 6),
        processing_id=_text(message, msh, 11),
        version=_text(message, msh, 12),
    )


def validate_header(header: Header, *, processing_id: str = "P") -> None:
    """AR for what this system does not process: no control ID, another message type or version, or another
    processing ID (MSH-11: a training or debugging message never reaches the clinical record of production)."""
    if not header.control_id:
        raise rejected(
            "MSH-10 (message control ID) is empty: the message cannot be acknowledged or de-duplicated.",
            condition=101,
            location="MSH^1^10",
        )
    if (header.message_code, header.trigger_event) not in SUPPORTED_MESSAGE_TYPES:
        condition = 200 if header.message_code not in {code for code, _ in SUPPORTED_MESSAGE_TYPES} else 201
        raise rejected(
            f"Message type {header.message_type or '(empty)'} is not supported: send ORU^R01 results (or OUL^R22 "
            "from a device).",
            condition=condition,
            location="MSH^1^9",
        )
    if header.version and not header.version.startswith("2."):
        raise rejected(
            f"HL7 version {header.version} is not supported: send HL7 v2.x.", condition=203, location="MSH^1^12"
        )
    if header.processing_id.upper() != processing_id.upper():
        raise rejected(
            f"Processing ID {header.processing_id or '(empty)'} (MSH-11) is not this system's ({processing_id}): "
            "the message is kept but not recorded.",
            condition=202,
            location="MSH^1^11",
        )


def check_structure(message: hl7.Message) -> None:
    """The ORU^R01 shape we can process: one MSH, one patient (PID) before the orders, at least one OBR, and
    every OBX inside an order (after an OBR). Z-segments may appear anywhere after MSH."""
    ids = [str(segment[0]) for segment in message]
    if ids.count("MSH") != 1:
        raise rejected(
            "Several messages (MSH) in one: send them one by one, or as a batch file with its FHS/BHS header."
        )
    if ids.count("PID") != 1:
        text = "The message has no PID segment." if "PID" not in ids else "One patient (PID) per message, please."
        raise rejected(text, condition=100 if "PID" in ids else 101, location="PID")
    if "OBR" not in ids and "ORC" not in ids:
        # An analyser may send its results under an ORC alone (no OBR): the order is still named.
        raise rejected(
            "The message has no OBR (or ORC) segment: results belong to an order.", condition=101, location="OBR"
        )
    seen_order = False
    obx_count = 0
    for position, segment_id in enumerate(ids, start=1):
        if segment_id == "PID" and seen_order:
            raise rejected(f"Segment {position}: PID must come before the orders (OBR).", location="PID^1")
        if segment_id in ("ORC", "OBR"):
            seen_order = True
        if segment_id == "OBX":
            obx_count += 1
            if not seen_order:
                raise rejected(
                    f"Segment {position}: OBX {obx_count} comes before any OBR.", location=f"OBX^{obx_count}"
                )


def read_patient_mrn(message: hl7.Message) -> str:
    """PID-3 is a repeating list of identifiers: the one typed MR (medical record number), else the first."""
    pid = message.segment("PID")
    chosen = 1
    for repetition in range(1, _repetitions(pid, 3) + 1):
        if _text(message, pid, 3, 5, repetition).upper() == "MR":
            chosen = repetition
            break
    mrn = _text(message, pid, 3, 1, chosen)
    if not mrn:
        raise HL7Error("PID-3 carries no patient identifier (MRN).", condition=101, location="PID^1^3")
    # No MRN on record holds such a character (patients.validators): say why rather than "no patient with MRN ...",
    # which would print the same as a real MRN. The message waits in the error queue for the sender's correction.
    if problem := hidden_character_problem(mrn):
        raise HL7Error(
            f"The patient identifier (MRN) in PID-3 is refused. {problem}", condition=102, location="PID^1^3"
        )
    return mrn


# --- Values ------------------------------------------------------------------------------------------------


def unit_factor(unit: str) -> Decimal | None:
    key = unit.strip().replace("µ", "u").replace("μ", "u").replace("³", "3").replace(" ", "").lower()
    key = key.replace("/mcl", "/ul")
    return UNIT_FACTORS.get(key)


def to_count(value_10e9_per_l: Decimal) -> int:
    """Round half up to a whole count (150.5 -> 151): counts are whole numbers of ×10⁹/L everywhere else."""
    return int(value_10e9_per_l.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def normalised_count(value: str, unit: str, *, location: str = "") -> tuple[Decimal, int]:
    """The value in ×10⁹/L and the whole count, or AE: not a number, unknown unit, impossible count."""
    if not _NUMBER.fullmatch(value.strip()):
        raise HL7Error(f"The value {value!r} is not a number.", condition=102, location=f"{location}^5")
    if len(value.strip().lstrip("+-").split(".")[0]) > 9:
        raise HL7Error(
            f"The value {value.strip()[:20]!r} is not a possible count.", condition=102, location=f"{location}^5"
        )
    factor = unit_factor(unit)
    if factor is None:
        raise HL7Error(
            f"The unit {unit!r} is not a platelet count unit (use 10*9/L, G/L, 10*3/uL, K/uL, /uL or /mm3).",
            condition=103,
            location=f"{location}^6",
        )
    in_10e9_per_l = Decimal(value.strip()) * factor
    count = to_count(in_10e9_per_l)
    if in_10e9_per_l < 0 or count > MAX_PLAUSIBLE_COUNT:
        raise HL7Error(
            f"{value} {unit} is {in_10e9_per_l.normalize():f} ×10⁹/L: not a possible platelet count "
            f"(0-{MAX_PLAUSIBLE_COUNT} ×10⁹/L).",
            condition=102,
            location=f"{location}^5",
        )
    return in_10e9_per_l, count


def parse_timestamp(value: str, zone: ZoneInfo, *, location: str = "") -> datetime:
    """An HL7 DTM as an aware UTC datetime. With an offset (20261124083000+0100) it is exact; without one it is
    the hospital's wall-clock time. A wall time that happens twice (the autumn change) is read as its first
    occurrence (fold=0, still summer time); one that never happens (the spring gap) is refused."""
    match = _TIMESTAMP.fullmatch(value.strip())
    if not match:
        raise HL7Error(
            f"{value!r} is not an HL7 date/time with at least the minute (YYYYMMDDHHMM[SS][+/-ZZZZ]).",
            condition=102,
            location=location,
        )
    year, month, day, hour, minute, second, fraction, sign, off_h, off_m = match.groups()
    try:
        wall = datetime(  # noqa: DTZ001 - a wall-clock time; its zone is attached just below
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
        )
    except ValueError as exc:
        raise HL7Error(f"{value!r} is not a valid date/time: {exc}.", condition=102, location=location) from exc
    try:
        if sign:
            if int(off_h) > 14 or int(off_m) > 59:
                raise HL7Error(f"{value!r} has an impossible UTC offset.", condition=102, location=location)
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            return wall.replace(tzinfo=timezone(-offset if sign == "-" else offset)).astimezone(UTC)
        local = wall.replace(tzinfo=zone)
        round_trip = local.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
    except OverflowError as exc:  # year 1 or 9999 pushed past the calendar by its offset
        raise HL7Error(f"{value!r} is not a possible date/time.", condition=102, location=location) from exc
    if round_trip != wall:
        raise HL7Error(
            f"{value!r} does not exist in {zone.key} (the clocks went forward): send the time with its offset.",
            condition=102,
            location=location,
        )
    return local.astimezone(UTC)


def _codes(message: hl7.Message, obx: hl7.Segment) -> list[tuple[str, str, str]]:
    """OBX-3's identifier and alternate identifier, each with its text and coding system."""
    return [
        (_text(message, obx, 3, 1), _text(message, obx, 3, 2), _text(message, obx, 3, 3)),
        (_text(message, obx, 3, 4), _text(message, obx, 3, 5), _text(message, obx, 3, 6)),
    ]


NOT_A_COUNT = "not_a_count"


def local_test(code: str, system: str, local_codes: dict[str, str]) -> str | None:
    """What a code names by the sending facility's mapping (``platelet_count``, a lab test, or ``not_a_count``
    for a result about platelets that is not their count, such as a smear comment), else None. The accepted LOINC
    codes are read before any mapping; another LOINC code may be mapped like a local one."""
    return local_codes.get(code) if code else None


def _platelet_code(message: hl7.Message, obx: hl7.Segment, local_codes: dict[str, str]) -> str | None:
    """OBX-3 names a platelet count by LOINC (identifier or alternate identifier, system LN, LOINC or unstated) or
    by one of the sending facility's local codes mapped to a platelet count."""
    pairs = _codes(message, obx)
    for code, _name, system in pairs:
        if code in PLATELET_LOINC_CODES and system.upper() in LOINC_SYSTEMS:
            return code
    for code, _name, system in pairs:
        if local_test(code, system, local_codes) == PLATELET_COUNT:
            return code
    return None


def _mapped_not_a_count(message: hl7.Message, obx: hl7.Segment, local_codes: dict[str, str]) -> bool:
    return any(local_test(code, system, local_codes) == NOT_A_COUNT for code, _n, system in _codes(message, obx))


def looks_like_platelet_count(message: hl7.Message, obx: hl7.Segment) -> bool:
    """OBX-3 reads as a platelet count (PLT, Platelets, Thrombozyten, Thrombocytes, Plaquettes), not an index."""
    for code, name, _system in _codes(message, obx):
        for text in (name, code):
            words = " ".join(text.split())
            if words and _PLATELET_NAME.search(words) and not _PLATELET_INDEX.search(words):
                return True
    return False


def unmapped_platelet_code(message: hl7.Message, obx: hl7.Segment, facility: str, location: str) -> HL7Error:
    pairs = [pair for pair in _codes(message, obx) if pair[0] or pair[1]]
    code, name, _system = next(
        (p for p in pairs if any(_PLATELET_NAME.search(t) for t in p[:2] if t)), pairs[0] if pairs else ("", "", "")
    )
    shown = f"{code} ({name})" if name and name != code else code or name
    return HL7Error(
        f"Unmapped platelet code {shown} from facility {facility or '(MSH-4 empty)'}: map it to the platelet count "
        "in the admin (local observation codes), then re-process this message.",
        condition=103,
        location=f"{location}^3",
    )


def _numeric_text(message: hl7.Message, obx: hl7.Segment, location: str) -> str:
    """OBX-5 as a number's text. SN (structured numeric) is accepted without a comparator or range
    (``^150`` or ``=^150``); ``<^20`` or a range is not a count."""
    if _text(message, obx, 2).upper() == "SN":
        comparator, number = _text(message, obx, 5, 1), _text(message, obx, 5, 2)
        rest = _text(message, obx, 5, 3) + _text(message, obx, 5, 4)
        if comparator not in ("", "=") or rest:
            raise HL7Error(
                f"The value {_field_text(message, obx, 5)!r} is a comparison or a range, not a count.",
                condition=102,
                location=f"{location}^5",
            )
        return number
    return str(message.unescape(_field_text(message, obx, 5)))


def read_observations(
    message: hl7.Message,
    *,
    local_codes: dict[str, str],
    zone: ZoneInfo,
    now: datetime,
    facility: str = "",
) -> Observations:
    """Every platelet OBX with its normalised value, status and collection time (OBX-14, else OBR-7 of its
    order, else OBX-19). ``local_codes`` maps the sending facility's own codes to what they name
    (``platelet_count``, ``creatinine``, ``hemoglobin``, ``blood_group``). A result that reads as a platelet count
    but is not mapped is AE. Other observations are counted and left alone."""
    platelets: list[Observation] = []
    labs: list[LabObservation] = []
    other = 0
    obx_index = 0
    order_context = OrderContext(specimen_first=_text(message, message.segment("MSH"), 9, 1) == "OUL")
    for segment in message:
        segment_id = str(segment[0])
        if segment_id in ("OBR", "ORC", "SPM"):
            order_context = order_context.with_segment(segment_id, segment)
            continue
        if segment_id != "OBX":
            continue
        obx_index += 1
        location = f"OBX^{obx_index}"
        code = _platelet_code(message, segment, local_codes)
        if code is None:
            lab = _lab_observation(message, segment, order_context, obx_index, zone, now, local_codes)
            if lab is not None:
                labs.append(lab)
            elif looks_like_platelet_count(message, segment) and not _mapped_not_a_count(message, segment, local_codes):
                raise unmapped_platelet_code(message, segment, facility, location)
            else:
                other += 1
            continue
        status = _text(message, segment, 11).upper()
        if not status:
            raise HL7Error("OBX-11 (result status) is empty.", condition=101, location=f"{location}^11")
        if status not in SUPPORTED_STATUSES:
            raise HL7Error(
                f"Result status {status!r} (OBX-11) is not supported: send F, C, P, X or D.",
                condition=103,
                location=f"{location}^11",
            )
        specimen_id = order_context.specimen_id(message)
        value_text = _field_text(message, segment, 5)
        unit_text = _unit_text(message, segment)
        value = count = collected = None
        if status in RECORDED_STATUSES:
            value, count = normalised_count(_numeric_text(message, segment, location), unit_text, location=location)
            collected = _collection_time(message, segment, order_context, zone, location)
            if collected > now + timedelta(seconds=5):
                raise HL7Error(
                    f"The collection time {collected:%Y-%m-%d %H:%M} UTC is in the future.",
                    condition=102,
                    location=f"{location}^14",
                )
        platelets.append(
            Observation(
                obx_index=obx_index,
                code=code,
                sub_id=_text(message, segment, 4),
                status=status,
                specimen_id=specimen_id,
                value_original=value_text[:200],
                unit_original=_field_text(message, segment, 6)[:200],
                value_10e9_per_l=value,
                platelet_count=count,
                collected_at=collected,
                reference_range=_text(message, segment, 7)[:60],
                abnormal_flag=_text(message, segment, 8).upper()[:5],
            )
        )
    return Observations(platelets=platelets, other_obx=other, labs=tuple(labs))


def _lab_observation(
    message: hl7.Message,
    obx: hl7.Segment,
    order_context: OrderContext,
    obx_index: int,
    zone: ZoneInfo,
    now: datetime,
    local_codes: dict[str, str],
) -> LabObservation | None:
    """A creatinine, hemoglobin or ABO/Rh OBX named by its LOINC code (system LN, LOINC or unstated) or a mapped
    local code, else None."""
    pairs = _codes(message, obx)
    found = next(
        (
            (c, LAB_LOINC_CODES[c])
            for c, _name, system in pairs
            if c in LAB_LOINC_CODES and system.upper() in LOINC_SYSTEMS
        ),
        None,
    ) or next(
        ((c, test) for c, _name, system in pairs if (test := local_test(c, system, local_codes)) in LAB_TESTS),
        None,
    )
    if found is None:
        return None
    code, test = found
    location = f"OBX^{obx_index}"
    status = _text(message, obx, 11).upper()
    if status not in SUPPORTED_STATUSES:
        raise HL7Error(
            f"Result status {status!r} (OBX-11) is not supported: send F, C, P, X or D.",
            condition=103,
            location=f"{location}^11",
        )
    collected = None
    if status in RECORDED_STATUSES:
        collected = _collection_time(message, obx, order_context, zone, location)
        if collected > now + timedelta(seconds=5):
            raise HL7Error(
                f"The collection time {collected:%Y-%m-%d %H:%M} UTC is in the future.",
                condition=102,
                location=f"{location}^14",
            )
    value_text = str(message.unescape(_field_text(message, obx, 5)))
    if test == "blood_group" and _text(message, obx, 2).upper() in ("CWE", "CE", "CNE"):
        # A coded group: its identifier ("A", "O POS") or, when that is a code of another system (SNOMED), its text.
        value_text = _readable_group(_text(message, obx, 5, 1), _text(message, obx, 5, 2))
    return LabObservation(
        obx_index=obx_index,
        test=test,
        code=code,
        status=status,
        value_text=value_text[:40],
        unit_text=_unit_text(message, obx),
        collected_at=collected,
    )


def _readable_group(identifier: str, text: str) -> str:
    """The part of a coded ABO/Rh value that names the group: the identifier when it reads as one, else the text."""
    for candidate in (identifier, text):
        try:
            blood_group(candidate)
        except BloodGroupError:
            continue
        return candidate
    return text or identifier


def _entity_id(message: hl7.Message, segment: hl7.Segment, field: int) -> str:
    """An EI (entity identifier) with its namespace: order numbers are unique only within the issuing system."""
    identifier, namespace = _text(message, segment, field, 1), _text(message, segment, field, 2)
    return f"{identifier}^{namespace}" if identifier and namespace else identifier


def _unit_text(message: hl7.Message, obx: hl7.Segment) -> str:
    """OBX-6's unit: its identifier, else its text; a unit whose caret was sent unescaped (``10^9/L`` read as the
    components ``10`` and ``9/L``) is read whole."""
    identifier, text = _text(message, obx, 6, 1), _text(message, obx, 6, 2)
    if identifier and text and unit_factor(f"{identifier}^{text}") is not None:
        return f"{identifier}^{text}"
    return identifier or text


def _collection_time(
    message: hl7.Message, obx: hl7.Segment, order_context: OrderContext, zone: ZoneInfo, location: str
) -> datetime:
    """OBX-14 (the observation's time), else OBR-7 (the order's collection time), else SPM-17 (the specimen's, in
    OUL^R22), else OBX-19 (the analysis time, where point-of-care devices put it)."""
    candidates = [(_text(message, obx, 14), f"{location}^14")]
    if order_context.obr is not None:
        candidates.append((_text(message, order_context.obr, 7), "OBR^1^7"))
    if order_context.spm is not None:
        candidates.append((_text(message, order_context.spm, 17), "SPM^1^17"))
    candidates.append((_text(message, obx, 19), f"{location}^19"))
    for value, where in candidates:
        if value:
            return parse_timestamp(value, zone, location=where)
    raise HL7Error(
        "No collection time: none of OBX-14, OBR-7, SPM-17 or OBX-19 is filled.",
        condition=101,
        location=f"{location}^14",
    )


@dataclass(frozen=True)
class OrderContext:
    """The order and specimen segments the following OBX belong to: the latest OBR, ORC and SPM. In ORU^R01 an
    order starts with its ORC (then its OBR) and a specimen (SPM, v2.5) follows the order's results; in OUL^R22 a
    specimen (SPM) comes first and its order is the OBR, then its ORC."""

    obr: hl7.Segment | None = None
    orc: hl7.Segment | None = None
    spm: hl7.Segment | None = None
    specimen_first: bool = False  # OUL^R22
    last: str = ""

    def with_segment(self, segment_id: str, segment: hl7.Segment) -> OrderContext:
        obr, orc, spm = self.obr, self.orc, self.spm
        if segment_id == "OBR":
            obr = segment
            if not self.specimen_first and self.last != "ORC":
                orc = None
            if not self.specimen_first:
                spm = None  # the previous order's specimen
        elif segment_id == "ORC":
            orc = segment
            if self.last != "OBR":  # an ORC after its OBR (OUL^R22) keeps it; otherwise a new order begins
                obr = None
                if not self.specimen_first:
                    spm = None
        else:
            spm = segment
            if self.specimen_first:
                obr = orc = None  # a new specimen group: its order follows
        return OrderContext(obr, orc, spm, self.specimen_first, segment_id)

    def specimen_id(self, message: hl7.Message) -> str:
        """The sample: OBR-3 filler order number, else OBR-2 placer, else the ORC's, else SPM-2."""
        for segment in (self.obr, self.orc):
            if segment is not None:
                found = _entity_id(message, segment, 3) or _entity_id(message, segment, 2)
                if found:
                    return found
        return _entity_id(message, self.spm, 2) if self.spm is not None else ""


# --- The acknowledgement -----------------------------------------------------------------------------------


# Our ACK declares no character set (MSH-18), which in HL7 means ASCII: texts are transliterated.
_ASCII = str.maketrans({"×": "x", "⁹": "9", "³": "3", "µ": "u", "μ": "u", "≥": ">=", "≤": "<=", "–": "-", "—": "-"})


def escape(text: str) -> str:
    """HL7 escape sequences for the standard delimiters we declare in our MSH (|^~\\&), in ASCII, on one line."""
    text = text.replace("×10⁹/L", "x10*9/L").translate(_ASCII).encode("ascii", "replace").decode("ascii")
    text = text.replace("\\", "\\E\\")
    for char, sequence in (("|", "\\F\\"), ("^", "\\S\\"), ("&", "\\T\\"), ("~", "\\R\\")):
        text = text.replace(char, sequence)
    return " ".join(text.split())


def version_of(text: str) -> tuple[int, ...]:
    """MSH-12 as numbers ("2.3.1" -> (2, 3, 1)); an empty or unreadable version is read as 2.5.1."""
    parts = re.findall(r"\d+", text.split("^")[0])
    return tuple(int(part) for part in parts[:3]) if parts else (2, 5, 1)


# The ACK's layout follows the sender's version (HL7 v2 chapter 2): MSH-9's message structure (third component)
# exists from v2.3.1; ERR-1 ("error code and location") is ERR's only field up to v2.4, replaced by ERR-2 to ERR-8
# from v2.5; MSA-3 (text message) is withdrawn from v2.7, where the text goes in ERR-8 (an AA's with severity I).
STRUCTURE_FROM, ERR_FIELDS_FROM, NO_MSA_TEXT_FROM = (2, 3, 1), (2, 5), (2, 7)
# Table 0357 code 0: "Message accepted", for the ERR that carries an AA's text where MSA-3 no longer exists.
ACCEPTED_CONDITION = "0^Message accepted^HL70357"
MSA_TEXT_MAX = 80  # MSA-3 (ST) in HL7 v2.2 to v2.6


def build_ack(
    *,
    ack_code: str,
    header: Header | None,
    ack_control_id: str,
    text: str,
    error: HL7Error | None,
    now: datetime,
    application: str = "IVIG_TRACKER",
) -> str:
    """An original-mode ACK in the sender's version: MSH (MSH-3/4 the application and facility the sender addressed,
    MSH-5/6 the sender), MSA (MSA-1 the code, MSA-2 the message's MSH-10, MSA-3 a short text until v2.7) and, on
    AE/AR, ERR (v2.5 on: ERR-2 location, ERR-3 table 0357 code, ERR-4 severity E, ERR-8 the reason; up to v2.4:
    ERR-1 location and code). Segments end in CR."""
    header = header or Header("", "", "", "", "", "", "", "", "")
    version = version_of(header.version)
    trigger = escape(header.trigger_event)
    message_type = "ACK" if not trigger else f"ACK^{trigger}^ACK" if version >= STRUCTURE_FROM else f"ACK^{trigger}"
    msh = [
        "MSH",
        "^~\\&",
        escape(header.receiving_application) or application,
        escape(header.receiving_facility),
        escape(header.sending_application),
        escape(header.sending_facility),
        now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000"),
        "",
        message_type,
        escape(ack_control_id),
        escape(header.processing_id) or "P",
        escape(header.version) or "2.5.1",
    ]
    msa = ["MSA", ack_code, escape(header.control_id)]
    summary = escape(text)
    cut = len(summary) > MSA_TEXT_MAX
    if version < NO_MSA_TEXT_FROM:
        # MSA-3 holds 80 characters up to v2.6: a longer text is cut there, and stands whole in ERR-8 (v2.5 on).
        msa.append(summary[: MSA_TEXT_MAX - 3] + "..." if cut else summary)
    segments = ["|".join(msh), "|".join(msa)]
    if error is not None:
        code, name = str(error.condition), ERROR_CONDITIONS.get(error.condition, "")
        if version < ERR_FIELDS_FROM:
            where = (error.location.split("^") + ["", "", ""])[:3]
            segments.append("|".join(["ERR", "^".join([*map(escape, where), f"{code}&{escape(name)}&HL70357"])]))
        else:
            location = "^".join(escape(part) for part in error.location.split("^")) if error.location else ""
            condition = f"{code}^{name}^HL70357"
            segments.append("|".join(["ERR", "", location, condition, "E", "", "", "", escape(error.text)]))
    elif text and (version >= NO_MSA_TEXT_FROM or (cut and version >= ERR_FIELDS_FROM)):
        segments.append("|".join(["ERR", "", "", ACCEPTED_CONDITION, "I", "", "", "", summary]))
    return "\r".join(segments) + "\r"


# --- Batches -----------------------------------------------------------------------------------------------

BATCH_SEGMENTS = ("FHS", "BHS", "BTS", "FTS")


@dataclass(frozen=True)
class Batch:
    """A batch file (FHS/BHS ... BTS/FTS, HL7 v2 chapter 2): its header segments as sent and its messages."""

    file_header: str  # the FHS segment, or "" for a batch without a file header
    batch_header: str  # the BHS segment, or ""
    messages: tuple[str, ...]


def is_batch(raw: str) -> bool:
    return normalise(raw)[:3] in ("FHS", "BHS")


def split_batch(raw: str) -> Batch:
    """The messages of a batch file, each from its MSH to the segment before the next MSH or batch segment."""
    file_header = batch_header = ""
    messages: list[list[str]] = []
    for segment in normalise(raw).split("\r"):
        kind = segment[:3]
        if kind == "FHS" and not file_header:
            file_header = segment
        elif kind == "BHS" and not batch_header:
            batch_header = segment
        elif kind in BATCH_SEGMENTS:
            continue
        elif kind == "MSH":
            messages.append([segment])
        elif messages:
            messages[-1].append(segment)
    return Batch(file_header, batch_header, tuple("\r".join(message) for message in messages))


def _header_field(segment: str, field: int, component: int = 1) -> str:
    """FHS-n or BHS-n as sent (the separator is the segment's fourth character, as in MSH)."""
    if len(segment) < 4:
        return ""
    fields = segment.split(segment[3])
    # FHS-1 is the separator itself, so FHS-n follows the n - 1 separators: index n - 1.
    value = fields[field - 1] if len(fields) >= field else ""
    return value.split("^")[component - 1] if value else ""


def build_batch_ack(batch: Batch, acks: list[str], *, control_id: str, now: datetime) -> str:
    """The batch acknowledgement: a batch of the messages' ACKs, in the sender's batch envelope (FHS/BHS with our
    control ID and theirs as the reference, BTS with the count, FTS)."""
    stamp = now.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")

    def header(kind: str, sent: str) -> str:
        return "|".join(
            [
                kind,
                "^~\\&",
                escape(_header_field(sent, 5)) or "IVIG_TRACKER",
                escape(_header_field(sent, 6)),
                escape(_header_field(sent, 3)),
                escape(_header_field(sent, 4)),
                stamp,
                "",
                "",
                "",
                escape(control_id),
                escape(_header_field(sent, 11)),
            ]
        )

    segments: list[str] = []
    if batch.file_header:
        segments.append(header("FHS", batch.file_header))
    segments.append(header("BHS", batch.batch_header or batch.file_header))
    segments += [ack.rstrip("\r") for ack in acks]
    segments.append(f"BTS|{len(acks)}")
    if batch.file_header:
        segments.append("FTS|1")
    return "\r".join(segments) + "\r"

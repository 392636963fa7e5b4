"""Real laboratories' messages from public test corpora (the shared folder of real HL7 messages, each with its
source): with the sending facility's local code mapped in the admin, each platelet count is recorded as the
laboratory sent it. Only the collection times are moved to the test's course; MRNs, codes, units, encodings and
line ends stay as sent. Where the folder is absent the tests skip, saying so."""

from __future__ import annotations

import os
import re
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from interop.hl7.mllp import decode
from interop.hl7.services import receive_message
from interop.models import HL7Message, LocalObservationCode
from monitoring.models import PlateletResult
from tests.conftest import SHARED_CORPUS_ABSENT
from tests.factories import PatientFactory, given_order

pytestmark = pytest.mark.django_db

# Beside the repository, as the project's shared documents are; IVIG_HL7_REAL_DIR names another place.
CORPUS = Path(os.environ.get("IVIG_HL7_REAL_DIR", Path(__file__).resolve().parents[3] / "shared" / "hl7-real"))
ABSENT = f"{SHARED_CORPUS_ABSENT} {CORPUS} (set IVIG_HL7_REAL_DIR)"

# file, sending facility (MSH-4), its local platelet code (None: LOINC), the patient's MRN (PID-3), the count.
PLATELET_MESSAGES = [
    ("01-viollier-v22", "RESULTS", "19630", "1000002", 121),  # ST value with leading blanks, G/L, ISO-8859-1
    ("03-unilabs-zurich-v23", "DIAGNOSTICA", "1050010", "431383", 156),  # 10E9/l, time from OBR-7
    ("05-rothen-v23", "12273", "tz_B", "910186851", 281),  # LF line ends, one OBR per analyte, G/l
    ("09-lg1-v22", "12342", "tc", "00123108", 213),  # x1000/mm³ with the superscript in Latin-1
    ("11-openmedical-crlf-v22", "MUSTER-LAB", "THRO", "000657", 239),  # CRLF line ends, 10e9/l
    ("15-alerelis-poctgate-v271", "poctGate", "PLT", "01", 259),  # bare code, 10\S\9/l, time in OBX-19
    ("17-elexis-import-v26", "1301", "tc", "2", 283),  # G/l, one OBR per test
]

_STAMP = re.compile(r"(?<![0-9])((?:19|20)\d{6}(?:\d{4}(?:\d{2})?)?)([+-]\d{4})?(?![0-9])")


def real(name: str) -> str:
    if not CORPUS.is_dir():
        pytest.skip(ABSENT)
    return decode((CORPUS / f"{name}.orig.hl7").read_bytes())


def collected_at(raw: str, moment) -> str:
    """The message with every date/time of its orders and results (OBR, OBX) moved to ``moment``, each keeping its
    own precision (hospital time, or UTC where the laboratory sent an offset); nothing else changes."""
    local = timezone.localtime(moment).strftime("%Y%m%d%H%M%S")
    utc = moment.astimezone(UTC).strftime("%Y%m%d%H%M%S")

    def moved(match: re.Match[str]) -> str:
        stamp, offset = match.groups()
        return utc[: len(stamp)] + "+0000" if offset else local[: len(stamp)]

    lines = re.split(r"(\r\n|\r|\n)", raw)
    for index, line in enumerate(lines):
        if line.startswith(("OBR", "OBX")):
            lines[index] = _STAMP.sub(moved, line)
    return "".join(lines)


@pytest.mark.parametrize(("name", "facility", "local_code", "mrn", "count"), PLATELET_MESSAGES)
def test_a_real_laboratorys_platelet_count_is_recorded_once_its_local_code_is_mapped(
    name, facility, local_code, mrn, count, hematologist, nurse
):
    raw = real(name)
    patient = PatientFactory(mrn=mrn)
    given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    message = collected_at(raw, timezone.now() - timedelta(hours=6))
    if local_code is not None:
        first = receive_message(message, "mllp")
        assert first.code == "AE", first.text
        assert f"Unmapped platelet code {local_code}" in HL7Message.objects.get(pk=first.message_id).error
        assert not PlateletResult.objects.filter(order__patient=patient).exists()
        LocalObservationCode.objects.create(
            sending_facility=facility, code=local_code, test=LocalObservationCode.Test.PLATELET_COUNT
        )
        ack = receive_message(message.replace(f"|{first_control_id(message)}|", "|IVIG-TEST-2|", 1), "mllp")
    else:
        ack = receive_message(message, "mllp")

    assert ack.code == "AA", ack.text
    (result,) = PlateletResult.objects.filter(order__patient=patient, source="hl7")
    assert result.platelet_count == count


def first_control_id(message: str) -> str:
    msh = re.split(r"\r\n|\r|\n", message.lstrip("\ufeff"))[0]
    return msh.split(msh[3])[9]


def test_nists_cbc_is_read_whole_and_refused_for_its_hemoglobin_in_grams_per_millilitre(hematologist, nurse, settings):
    """NIST's test CBC (UTF-8 BOM, LOINC 26515-7 = 210000 {cells}/uL) is marked T (training), which a test system
    processes; its hemoglobin says 12.5 g/mL, a unit no laboratory means (12.5 g/dL is the normal value), so the
    message waits in the error queue with none of its results recorded, as any unknown unit does."""
    settings.IVIG_HL7_PROCESSING_ID = "T"
    raw = real("20-nist-lri-cbc-v251")
    patient = PatientFactory(mrn="PATID1234")
    given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    ack = receive_message(collected_at(raw, timezone.now() - timedelta(hours=6)), "mllp")
    assert ack.code == "AE"
    assert "OBX 2 (hemoglobin): unit: The unit 'g/mL' is not one" in HL7Message.objects.get(pk=ack.message_id).error
    assert not PlateletResult.objects.exists()
    # With the unit the laboratory meant, the same message records its count and its hemoglobin.
    fixed = collected_at(raw, timezone.now() - timedelta(hours=6)).replace("|12.5|g/mL^", "|12.5|g/dL^")
    ack = receive_message(fixed.replace("|NIST-LRI-NG-002.00|", "|NIST-LRI-NG-002.01|", 1), "mllp")
    assert ack.code == "AA", ack.text
    assert PlateletResult.objects.get(order__patient=patient).platelet_count == 210


def test_a_training_message_is_refused_by_production_and_kept_with_nothing_recorded(hematologist, nurse):
    raw = real("20-nist-lri-cbc-v251")
    patient = PatientFactory(mrn="PATID1234")
    given_order(patient=patient, prescriber=hematologist, nurse=nurse, completed_hours_ago=30)
    ack = receive_message(collected_at(raw, timezone.now() - timedelta(hours=6)), "mllp")
    assert ack.code == "AR"
    assert "Processing ID T (MSH-11) is not this system's (P)" in HL7Message.objects.get(pk=ack.message_id).error
    assert not PlateletResult.objects.exists()


def test_a_message_without_a_platelet_count_is_accepted_with_nothing_recorded(db):
    raw = real("22-python-hl7-ghh-v24")
    ack = receive_message(raw, "mllp")
    # The GHH example's patient is not registered here: nothing of it can be recorded, and the ACK says why.
    assert ack.code in ("AA", "AE"), ack.text
    assert not PlateletResult.objects.exists()


@pytest.mark.parametrize(
    ("name", "codes"),
    [
        # CDC ReportStream's ELR batch (FHS/BHS, LF line ends): a COVID-19 antigen result, nothing this system keeps:
        # accepted with nothing recorded.
        ("26-cdc-prime-fhs-batch", ["AA"]),
        # A Victorian VINAH batch (BHS only) of admissions: not results, each refused.
        ("28-python-hl7-bhs-batch", None),
    ],
)
def test_a_real_batch_file_gets_a_batch_of_acks_one_per_message(name, codes, db):
    from interop.hl7.parse import split_batch
    from interop.hl7.services import receive

    raw = real(name)
    sent = split_batch(raw)
    ack = receive(raw, "mllp")
    segments = [s for s in ack.text.split("\r") if s]
    msa = [s.split("|")[1] for s in segments if s.startswith("MSA")]
    assert len(msa) == len(sent.messages) > 0
    assert msa == (codes or ["AR"] * len(sent.messages))
    assert segments[0][:3] == ("FHS" if sent.file_header else "BHS")
    assert f"BTS|{len(sent.messages)}" in segments
    assert HL7Message.objects.count() == len(sent.messages)
    assert not PlateletResult.objects.exists()


def test_sysmexs_results_under_an_orc_alone_are_read_and_a_date_without_a_time_is_refused_clearly(db):
    """The Sysmex analyser's message has no OBR (ORC, then the OBX) and dates its results to the day only: a count
    cannot be placed against an infusion without its time, so the message waits in the queue saying why."""
    raw = real("13-sysmex-v232")
    LocalObservationCode.objects.create(sending_facility="Sysmex", code="PLT", test="platelet_count")
    PatientFactory(mrn=re.search(r"\rPID\|[^|]*\|[^|]*\|([^|^]*)", raw.replace("\n", "\r")).group(1))
    ack = receive_message(raw, "mllp")
    assert ack.code == "AE"
    assert "is not an HL7 date/time with at least the minute" in HL7Message.objects.get(pk=ack.message_id).error

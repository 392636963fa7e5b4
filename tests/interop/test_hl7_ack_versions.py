"""The acknowledgement in the sender's HL7 version, checked by a strict third-party validator (hl7apy): MSH-9's
components, ERR-1 up to v2.4 and ERR-2 to ERR-8 from v2.5, no MSA-3 from v2.7, and MSH-3/4 the application and
facility the laboratory addressed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_segment

from interop.hl7 import parse
from interop.hl7.parse import HL7Error
from tests.interop.hl7_samples import sample

pytestmark = pytest.mark.unit

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
VERSIONS = ["2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.8"]
BASE = {"control_id": "LAB1", "mrn": "MRN1", "filler": "S1", "collected": "20261124083000", "status": "F", "value": 85}


def header(version: str) -> parse.Header:
    raw = sample("beaker_777_3_si_units.hl7", **BASE).replace("|P|2.5.1|", f"|P|{version}|")
    return parse.read_header(parse.read_message(raw))


def strictly_valid(ack: str, version: str) -> Message:
    """The ACK rebuilt segment by segment under hl7apy's strict validation as the version's ACK message (hl7apy
    names pre-2.3.1 structures by message type only, so the message is built rather than guessed from MSH-9)."""
    message = Message("ACK", version=version, validation_level=VALIDATION_LEVEL.STRICT)
    for text in filter(None, ack.split("\r")):
        segment = parse_segment(text, version=version, validation_level=VALIDATION_LEVEL.STRICT)
        if segment.name == "MSH":
            message.msh = segment  # the message starts with an empty MSH of its own
        else:
            message.add(segment)
    message.validate()
    return message


@pytest.mark.parametrize("version", VERSIONS)
def test_an_application_error_ack_is_valid_in_the_senders_version(version):
    error = HL7Error("No patient with MRN MRN1: register the patient.", condition=204, location="PID^1^3")
    ack = parse.build_ack(
        ack_code="AE", header=header(version), ack_control_id="IVIG7", text=error.text, error=error, now=NOW
    )
    strictly_valid(ack, version)
    msh, msa, err = ack.split("\r")[:3]
    assert msh.split("|")[2:6] == ["IVIG_TRACKER", "ST_MARYS", "BEAKER", "ST_MARYS_LAB"]
    assert msh.split("|")[11] == version
    if parse.version_of(version) < (2, 5):
        assert err == "ERR|PID^1^3^204&Unknown key identifier&HL70357"
    else:
        assert err.split("|")[2:5] == ["PID^1^3", "204^Unknown key identifier^HL70357", "E"]
        assert err.split("|")[8] == "No patient with MRN MRN1: register the patient."
    assert msa.split("|")[:3] == ["MSA", "AE", "LAB1"]


@pytest.mark.parametrize("version", VERSIONS)
def test_an_accept_ack_is_valid_in_the_senders_version_and_keeps_its_text(version):
    text = "OBX 1: 85 x10*9/L, 24 h check of order #7"
    ack = parse.build_ack(ack_code="AA", header=header(version), ack_control_id="IVIG8", text=text, error=None, now=NOW)
    strictly_valid(ack, version)
    segments = ack.split("\r")
    message_type = segments[0].split("|")[8]
    assert message_type == ("ACK^R01" if parse.version_of(version) < (2, 3, 1) else "ACK^R01^ACK")
    if parse.version_of(version) < (2, 7):
        assert segments[1] == f"MSA|AA|LAB1|{text}"
    else:
        # MSA-3 is withdrawn from v2.7: the text travels in an informational ERR.
        assert segments[1] == "MSA|AA|LAB1"
        assert segments[2].split("|")[3:5] == ["0^Message accepted^HL70357", "I"]
        assert segments[2].split("|")[8] == text


@pytest.mark.parametrize("version", ["2.3", "2.5.1"])
def test_a_reject_ack_for_a_wrong_processing_id_is_valid(version):
    sent = header(version)
    training = parse.Header(**{**sent.__dict__, "processing_id": "T"})
    with pytest.raises(HL7Error) as refused:
        parse.validate_header(training)
    ack = parse.build_ack(
        ack_code="AR", header=training, ack_control_id="IVIG9", text=refused.value.text, error=refused.value, now=NOW
    )
    strictly_valid(ack, version)
    assert ack.split("\r")[1].startswith("MSA|AR|LAB1|Processing ID T")


def test_the_validator_refuses_an_ack_laid_out_for_another_version():
    # v2.4's ERR-1 layout in a v2.5.1 ACK lacks ERR-3, which v2.5 requires: the check can fail.
    wrong = "MSH|^~\\&|IVIG_TRACKER|H|LAB|L|20261124120000+0000||ACK^R01^ACK|IVIG1|P|2.5.1\rMSA|AE|LAB1|x\r"
    wrong += "ERR|PID^1^3^204&Unknown key identifier&HL70357\r"
    with pytest.raises(Exception, match="ERR_3"):
        strictly_valid(wrong, "2.5.1")


@pytest.mark.parametrize("version", ["2.3", "2.5.1", "2.6"])
def test_a_text_longer_than_msa_3_holds_is_cut_there_and_whole_in_an_informational_err_from_v2_5(version):
    text = "OBX 1: 85 x10*9/L, 24 h check of order #7; hemoglobin 132.0 g/L recorded; 3 other observation(s) not used"
    ack = parse.build_ack(ack_code="AA", header=header(version), ack_control_id="IVIG8", text=text, error=None, now=NOW)
    strictly_valid(ack, version)
    segments = [s for s in ack.split("\r") if s]
    assert len(segments[1].split("|")[3]) == 80 and segments[1].endswith("...")
    if parse.version_of(version) >= (2, 5):
        assert segments[2].split("|")[4] == "I" and segments[2].split("|")[8] == text
    else:
        assert len(segments) == 2  # ERR-1 carries no text before v2.5: the stored message's results say what happened

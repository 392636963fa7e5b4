"""The pure part of HL7 v2 intake: parsing, units, rounding, times, codes and the ACK, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from interop.hl7 import parse
from interop.hl7.mllp import FrameReader, frame
from interop.hl7.parse import HL7Error
from tests.interop.hl7_samples import hl7_time, sample

pytestmark = pytest.mark.unit

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
BASE = {"control_id": "LAB1", "mrn": "MRN1", "filler": "S1", "collected": "20261124083000", "status": "F", "value": 85}


def observations(raw: str, *, local_codes: dict[str, str] | None = None, zone: ZoneInfo = LONDON):
    message = parse.read_message(raw)
    parse.validate_header(parse.read_header(message))
    parse.check_structure(message)
    return parse.read_observations(message, local_codes=local_codes or {}, zone=zone, now=NOW, facility="LAB")


def only_platelets(raw: str, **kwargs) -> parse.Observation:
    found = observations(raw, **kwargs).platelets
    assert len(found) == 1
    return found[0]


@pytest.mark.parametrize(
    "value, unit, expected",
    [
        ("85", "10*9/L", 85),
        ("85", "10*3/uL", 85),
        ("85", "K/uL", 85),
        ("85", "k/µL", 85),
        ("85", "10^9/L", 85),
        ("150000", "/uL", 150),
        ("150000", "/mm3", 150),
        ("150500", "/uL", 151),  # 150.5 rounds half up
        ("150499", "/uL", 150),
        ("84.5", "10*9/L", 85),
        ("84.49", "10*9/L", 84),
        ("0", "10*9/L", 0),
        ("2000", "10*9/L", 2000),
        ("2000400", "/uL", 2000),
        ("+12", "10*9/L", 12),
    ],
)
def test_units_are_normalised_to_10e9_per_l_and_rounded_half_up(value, unit, expected):
    _, count = parse.normalised_count(value, unit, location="OBX^1")
    assert count == expected


def test_the_unrounded_value_is_kept():
    assert parse.normalised_count("150500", "/uL") == (Decimal("150.500"), 151)


@pytest.mark.parametrize(
    "value, unit, condition, location",
    [
        ("clumped", "10*9/L", 102, "OBX^2^5"),
        ("85~90", "10*9/L", 102, "OBX^2^5"),
        ("", "10*9/L", 102, "OBX^2^5"),
        ("85", "g/dL", 103, "OBX^2^6"),
        ("85", "", 103, "OBX^2^6"),
        ("2001", "10*9/L", 102, "OBX^2^5"),
        ("2500000", "/uL", 102, "OBX^2^5"),
        ("-1", "10*9/L", 102, "OBX^2^5"),
    ],
)
def test_bad_values_and_units_are_application_errors(value, unit, condition, location):
    with pytest.raises(HL7Error) as caught:
        parse.normalised_count(value, unit, location="OBX^2")
    assert (caught.value.ack_code, caught.value.condition, caught.value.location) == ("AE", condition, location)


@pytest.mark.parametrize(
    "text, expected_utc",
    [
        ("20261124083000+0100", datetime(2026, 11, 24, 7, 30, tzinfo=UTC)),
        ("20261124083000-0500", datetime(2026, 11, 24, 13, 30, tzinfo=UTC)),
        ("20261124083000+0000", datetime(2026, 11, 24, 8, 30, tzinfo=UTC)),
        ("202611240830-0030", datetime(2026, 11, 24, 9, 0, tzinfo=UTC)),
        # No offset: the hospital's wall clock. London is on GMT in November and on BST (UTC+1) in July.
        ("20261124083000", datetime(2026, 11, 24, 8, 30, tzinfo=UTC)),
        ("20260715083000", datetime(2026, 7, 15, 7, 30, tzinfo=UTC)),
        ("202607150830", datetime(2026, 7, 15, 7, 30, tzinfo=UTC)),
        ("20260715083012.25", datetime(2026, 7, 15, 7, 30, 12, 250000, tzinfo=UTC)),
        # 01:30 happens twice on 25 October 2026: read as the first (still BST).
        ("20261025013000", datetime(2026, 10, 25, 0, 30, tzinfo=UTC)),
    ],
)
def test_hl7_times_with_and_without_offset_become_utc(text, expected_utc):
    assert parse.parse_timestamp(text, LONDON) == expected_utc


@pytest.mark.parametrize("text", ["20261124", "2026112408", "yesterday", "20261324083000", "20261124083000+2500"])
def test_unusable_times_are_refused(text):
    with pytest.raises(HL7Error) as caught:
        parse.parse_timestamp(text, LONDON, location="OBX^1^14")
    assert (caught.value.ack_code, caught.value.condition) == ("AE", 102)


def test_a_wall_time_in_the_spring_gap_is_refused():
    # 29 March 2026: London's clocks jump from 01:00 to 02:00; 01:30 never happens there.
    with pytest.raises(HL7Error, match="does not exist in Europe/London"):
        parse.parse_timestamp("20260329013000", LONDON)
    assert parse.parse_timestamp("20260329013000+0000", LONDON) == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_cr_lf_and_crlf_separated_messages_read_the_same():
    by_cr = only_platelets(sample("beaker_777_3_si_units.hl7", **BASE))
    by_lf = only_platelets(sample("beaker_777_3_si_units.hl7", separator="\n", **BASE))
    by_crlf = only_platelets(sample("beaker_777_3_si_units.hl7", separator="\r\n", **BASE))
    assert by_cr == by_lf == by_crlf
    assert (by_cr.code, by_cr.platelet_count, by_cr.status) == ("777-3", 85, "F")


def test_a_v2_3_sn_value_in_k_per_ul_takes_its_time_from_obr_7():
    found = only_platelets(sample("pathnet_26515_7_k_per_ul.hl7", **{**BASE, "value": 112}))
    assert (found.code, found.platelet_count, found.unit_original) == ("26515-7", 112, "K/uL")
    assert found.collected_at == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def test_a_local_code_counts_only_when_mapped_and_an_unmapped_one_named_as_platelets_is_an_error():
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000})
    with pytest.raises(parse.HL7Error) as unmapped:
        observations(raw)
    assert unmapped.value.text.startswith("Unmapped platelet code PLTC (Thrombozyten) from facility LAB")
    assert (unmapped.value.ack_code, unmapped.value.condition, unmapped.value.location) == ("AE", 103, "OBX^1^3")
    found = only_platelets(raw, local_codes={"PLTC": "platelet_count"})
    assert (found.code, found.platelet_count, found.value_original, found.unit_original) == ("PLTC", 45, "45000", "/uL")


def test_in_a_full_blood_count_the_platelets_and_the_hemoglobin_are_read_even_under_a_local_primary_code():
    read = observations(sample("sunquest_cbc_with_haemoglobin.hl7", **BASE))
    assert read.other_obx == 1
    assert [(lab.obx_index, lab.test, lab.value_text, lab.unit_text) for lab in read.labs] == [
        (1, "hemoglobin", "13.2", "g/dL")
    ]
    assert [(o.obx_index, o.code, o.platelet_count) for o in read.platelets] == [(3, "777-3", 85)]
    assert read.platelets[0].specimen_id == "S1^SUNQUEST"


def test_pid_3_prefers_the_identifier_typed_mr():
    raw = sample("beaker_777_3_si_units.hl7", **BASE).replace(
        "MRN1^^^ST_MARYS^MR~9434765919^^^NHS^NH", "9434765919^^^NHS^NH~MRN1^^^ST_MARYS^MR"
    )
    assert parse.read_patient_mrn(parse.read_message(raw)) == "MRN1"


@pytest.mark.parametrize(
    "raw, condition",
    [
        ("hello, this is not HL7", 100),
        ("", 100),
        ("PID|1||MRN1\rMSH|^~\\&|LAB", 100),
        ("MSH|^~\\&|LAB|HOSP|||20261124||ORU^R01|X1|P|2.5.1\rthis line is prose\r", 100),
    ],
)
def test_what_is_not_an_hl7_message_is_rejected(raw, condition):
    with pytest.raises(HL7Error) as caught:
        parse.read_message(raw)
    assert (caught.value.ack_code, caught.value.condition) == ("AR", condition)


def test_wrong_message_type_and_segment_order_are_rejected():
    adt = parse.read_message(sample("adt_a01_admission.hl7", **BASE))
    with pytest.raises(HL7Error) as caught:
        parse.validate_header(parse.read_header(adt))
    assert (caught.value.ack_code, caught.value.condition, caught.value.location) == ("AR", 200, "MSH^1^9")
    out_of_order = parse.read_message(sample("obx_before_obr.hl7", **BASE))
    with pytest.raises(HL7Error) as caught:
        parse.check_structure(out_of_order)
    assert (caught.value.ack_code, caught.value.condition) == ("AR", 100)


@pytest.mark.parametrize(
    "value_type, value, accepted",
    [("SN", "^85", True), ("SN", "=^85", True), ("SN", "<^20", False), ("SN", "^80^-^90", False), ("NM", "85", True)],
)
def test_structured_numeric_values_without_comparator_are_counts(value_type, value, accepted):
    raw = (
        sample("pathnet_26515_7_k_per_ul.hl7", **BASE).replace("|SN|", f"|{value_type}|").replace("|^85|", f"|{value}|")
    )
    if accepted:
        assert only_platelets(raw).platelet_count == 85
    else:
        with pytest.raises(HL7Error, match="comparison or a range"):
            observations(raw)


def test_a_collection_time_in_the_future_is_an_application_error():
    later = hl7_time(NOW + timedelta(hours=1))
    with pytest.raises(HL7Error, match="in the future") as caught:
        observations(sample("beaker_777_3_si_units.hl7", **{**BASE, "collected": later}))
    assert caught.value.ack_code == "AE"


@pytest.mark.parametrize("status", ["X", "D", "W"])
def test_statuses_without_a_value_to_record_are_read_without_one(status):
    found = only_platelets(sample("beaker_777_3_si_units.hl7", **{**BASE, "status": status, "value": ""}))
    assert (found.status, found.platelet_count, found.collected_at) == (status, None, None)


def test_an_unsupported_status_is_an_application_error():
    with pytest.raises(HL7Error, match="'I'") as caught:
        observations(sample("beaker_777_3_si_units.hl7", **{**BASE, "status": "I"}))
    assert (caught.value.ack_code, caught.value.condition, caught.value.location) == ("AE", 103, "OBX^1^11")


def test_the_ack_echoes_msh_10_and_explains_errors_in_err():
    header = parse.read_header(parse.read_message(sample("beaker_777_3_si_units.hl7", **BASE)))
    error = HL7Error("The unit 'g|L' is not a platelet count unit.", condition=103, location="OBX^1^6")
    ack = parse.build_ack(ack_code="AE", header=header, ack_control_id="IVIG7", text=error.text, error=error, now=NOW)
    segments = ack.split("\r")
    assert (
        segments[0]
        == "MSH|^~\\&|IVIG_TRACKER|ST_MARYS|BEAKER|ST_MARYS_LAB|20261124120000+0000||ACK^R01^ACK|IVIG7|P|2.5.1"
    )
    assert segments[1] == "MSA|AE|LAB1|The unit 'g\\F\\L' is not a platelet count unit."
    assert (
        segments[2]
        == "ERR||OBX^1^6|103^Table value not found^HL70357|E||||The unit 'g\\F\\L' is not a platelet count unit."
    )
    assert segments[3] == ""
    assert [str(s[0]) for s in parse.read_message(ack)] == ["MSH", "MSA", "ERR"]


def test_mllp_frames_split_across_reads_and_garbage_between_them():
    reader = FrameReader()
    wire = b"noise" + frame("MSH|first") + b"\r\n" + frame("MSH|second")
    received = []
    for index in range(0, len(wire), 3):
        received += reader.feed(wire[index : index + 3])
    assert received == [b"MSH|first", b"MSH|second"]


def test_the_ack_is_ascii_as_hl7_assumes_without_msh_18():
    error = HL7Error("2500 10*9/L is 2500 ×10⁹/L: not a possible platelet count (0–2000 ×10⁹/L).")
    ack = parse.build_ack(ack_code="AE", header=None, ack_control_id="IVIG1", text=error.text, error=error, now=NOW)
    assert ack.isascii()
    assert "is 2500 x10*9/L: not a possible platelet count (0-2000 x10*9/L)." in ack


@pytest.mark.parametrize(
    ("value", "unit", "count"),
    [
        ("121", "G/L", 121),
        ("281", "G/l", 281),
        ("281", "Giga/l", 281),
        ("156", "10E9/l", 156),
        ("156", "10^9/L", 156),
        ("259", "x10S9/l", 259),
        ("259", "/nl", 259),
        ("213", "x1000/mm3", 213),
        ("213", "x1000/mm³", 213),
        ("213", "10*3/uL", 213),
        ("213", "K/uL", 213),
        ("213", "thou/mcL", 213),
        ("210000", "{cells}/uL", 210),
        ("210000", "/uL", 210),
    ],
)
def test_every_way_laboratories_write_the_platelet_unit_is_the_same_count(value, unit, count):
    assert parse.normalised_count(value, unit)[1] == count


def test_a_caret_sent_unescaped_in_the_unit_is_read_as_part_of_it():
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 156}).replace("|/uL|", "|10^9/L|")
    found = only_platelets(raw, local_codes={"PLTC": "platelet_count"})
    assert (found.platelet_count, found.unit_original) == (156, "10^9/L")


@pytest.mark.parametrize(
    ("identifier", "name", "counted"),
    [
        ("PLT", "", True),
        ("X1", "Platelets", True),
        ("X1", "Plaquettes", True),
        ("X1", "Thrombocytes", True),
        ("PLT-I", "", True),  # a Sysmex impedance count
        ("X1", "Platelets [#/volume] in Blood", True),  # LOINC's long name as a local code's text
        ("X1", "Thrombozyten (EDTA)", True),
        ("X1", "Platelet count, blood", True),
        ("X1", "Platelet mean volume", False),  # MPV: an index, not a count
        ("X1", "Platelet count - MPV", False),  # named as a count, and an index: the index rule decides
        ("MPV", "MPV", False),
        ("X1", "Immature platelet fraction", False),
        ("X1", "Platelet estimate", False),  # a smear's estimate ("Adequate")
        ("X1", "Thrombozytenverteilungsbreite", False),
        ("X1", "Leukozyten", False),
    ],
)
def test_only_a_result_named_as_a_platelet_count_is_held_for_mapping(identifier, name, counted):
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000}).replace(
        "PLTC^Thrombozyten^L", f"{identifier}^{name}^L"
    )
    if counted:
        with pytest.raises(parse.HL7Error, match="Unmapped platelet code"):
            observations(raw)
    else:
        assert observations(raw).platelets == []


@pytest.mark.parametrize("system", ["LN", "LOINC", ""])
@pytest.mark.parametrize("code", ["777-3", "26515-7", "778-1"])
def test_the_platelet_loinc_codes_count_whichever_way_the_coding_system_is_written(code, system):
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000}).replace(
        "PLTC^Thrombozyten^L", f"{code}^Platelets^{system}"
    )
    assert only_platelets(raw).platelet_count == 45


def test_a_utf8_byte_order_mark_before_the_message_is_skipped():
    raw = "\ufeff" + sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000})
    assert only_platelets(raw, local_codes={"PLTC": "platelet_count"}).platelet_count == 45


@pytest.mark.parametrize(("sent", "accepted"), [("P", True), ("p", True), ("T", False), ("D", False), ("", False)])
def test_only_the_systems_processing_id_is_processed(sent, accepted):
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000}).replace("|P|2.4|", f"|{sent}|2.4|")
    header = parse.read_header(parse.read_message(raw))
    if accepted:
        parse.validate_header(header)
    else:
        with pytest.raises(parse.HL7Error) as refused:
            parse.validate_header(header)
        assert (refused.value.ack_code, refused.value.condition, refused.value.location) == ("AR", 202, "MSH^1^11")


def test_a_frame_ended_by_fs_alone_is_a_whole_message_and_a_late_cr_is_dropped():
    reader = FrameReader()
    assert reader.feed(b"\x0bMSH|first\x1c") == [b"MSH|first"]
    assert reader.feed(b"\r\x0bMSH|second\x1c\r\x0bMSH|third\x1c") == [b"MSH|second", b"MSH|third"]


OUL_R22 = (
    "MSH|^~\\&|ANALYSER|LAB|IVIG_TRACKER|HOSP|20261124120000||OUL^R22^OUL_R22|D-1|P|2.5.1\r"
    "PID|1||MRN1^^^HOSP^MR||DOE^JANE\r"
    "SPM|1|SPEC-9||BLD^Blood^HL70487|||||||||||||20261124083000\r"
    "OBR|1||SPEC-9|57021-8^CBC^LN\r"
    "OBX|1|NM|777-3^Platelets^LN||85|10^9/L|||||F\r"
)


def test_a_devices_oul_r22_is_read_with_its_time_from_the_specimen_and_a_caret_unescaped_in_the_unit():
    found = only_platelets(OUL_R22)
    assert (found.platelet_count, found.unit_original, found.specimen_id) == (85, "10^9/L", "SPEC-9")
    assert found.collected_at == datetime(2026, 11, 24, 8, 30, tzinfo=UTC)


def test_results_under_an_orc_alone_are_read_and_other_message_types_still_refused():
    orc_only = OUL_R22.replace("SPM|1|SPEC-9||BLD^Blood^HL70487|||||||||||||20261124083000\r", "").replace(
        "OBR|1||SPEC-9|57021-8^CBC^LN\r", "ORC|RE||SPEC-10\r"
    )
    orc_only = orc_only.replace("|||||F\r", "|||||F|||20261124083000\r")
    found = only_platelets(orc_only)
    assert (found.platelet_count, found.specimen_id) == (85, "SPEC-10")
    with pytest.raises(HL7Error) as refused:
        parse.validate_header(parse.read_header(parse.read_message(OUL_R22.replace("OUL^R22", "OUL^R21"))))
    assert (refused.value.ack_code, refused.value.condition) == ("AR", 201)


@pytest.mark.parametrize(
    ("charset", "name"),
    [
        ("8859/1", "MÃ¼LLER"),  # declared Latin-1: the bytes are read as Latin-1, though they would pass as UTF-8
        ("UNICODE UTF-8", "MüLLER"),
        ("", "MüLLER"),  # undeclared: UTF-8 when the bytes are UTF-8
    ],
)
def test_the_character_set_msh_18_declares_is_honoured(charset, name):
    from interop.hl7.mllp import decode

    raw = "MSH|^~\\&|LAB|L|IVIG|H|20261124120000||ORU^R01|C-1|P|2.5.1||||||" + charset + "\rPID|1||M1||MüLLER\r"
    decoded = decode(b"\xef\xbb\xbf" + raw.encode("utf-8"))
    assert decoded.split("\r")[1].endswith(name)
    assert not decoded.startswith("\ufeff")


def test_latin_1_bytes_with_no_declaration_are_read_as_latin_1():
    from interop.hl7.mllp import decode

    raw = "MSH|^~\\&|LAB|L|IVIG|H|20261124120000||ORU^R01|C-1|P|2.2\rOBX|1|TX|tc^Thrombozyten||213|x1000/mm³\r"
    assert decode(raw.encode("latin-1")).endswith("x1000/mm³\r")


def test_a_platelet_comment_mapped_as_not_a_count_is_left_alone_and_the_count_beside_it_is_read():
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000}).replace(
        "OBX|1|NM|PLTC^Thrombozyten^L||45000|/uL",
        "OBX|1|NM|777-3^Platelets^LN||45000|/uL",
    )
    raw += "OBX|2|ST|PLTK^Platelets^L||Adequate||||||F\r"
    with pytest.raises(HL7Error, match="Unmapped platelet code PLTK"):
        observations(raw)
    read = observations(raw, local_codes={"PLTK": "not_a_count"})
    assert ([o.platelet_count for o in read.platelets], read.other_obx) == ([45], 1)


def test_another_loinc_platelet_code_can_be_mapped_in_the_admin():
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": 45000}).replace(
        "PLTC^Thrombozyten^L", "13056-7^Platelets^LN"
    )
    with pytest.raises(HL7Error, match="Unmapped platelet code 13056-7"):
        observations(raw)
    assert only_platelets(raw, local_codes={"13056-7": "platelet_count"}).platelet_count == 45


def test_an_oul_r22_whose_orc_follows_its_obr_keeps_the_obrs_collection_time():
    raw = OUL_R22.replace(
        "OBR|1||SPEC-9|57021-8^CBC^LN\r", "OBR|1||SPEC-9|57021-8^CBC^LN|||20261124070000\rORC|RE||SPEC-9\r"
    )
    raw = raw.replace("|||||F\r", "|||||F||||||||20261124110000\r")  # an analysis time in OBX-19
    found = only_platelets(raw)
    assert found.collected_at == datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # OBR-7, not SPM-17 or the analysis time


@pytest.mark.parametrize(
    ("value", "stamp"),
    [("9" * 40, "20261124083000"), ("85", "999912312359-1200"), ("85", "000101010000+1400")],
)
def test_impossible_numbers_and_times_are_data_type_errors_not_internal_ones(value, stamp):
    raw = sample("molis_local_code_per_ul.hl7", **{**BASE, "value": value, "collected": stamp})
    with pytest.raises(HL7Error) as refused:
        observations(raw, local_codes={"PLTC": "platelet_count"})
    assert (refused.value.ack_code, refused.value.condition) == ("AE", 102)


@pytest.mark.parametrize("payload", [b"MSH\rPID|1", b"MSH", b"MSHA|x", b"\x0bMSH\n"])
def test_a_header_too_short_to_name_a_character_set_is_decoded_and_left_to_the_parser(payload):
    from interop.hl7.mllp import declared_charset, decode

    assert declared_charset(payload) is None
    assert isinstance(decode(payload), str)

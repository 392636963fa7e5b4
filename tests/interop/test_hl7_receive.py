"""HL7 v2 results through the one service the listener, the API and the admin use: matching, statuses,
idempotency, the error queue, and the same response rules as a typed result."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from core.errors import Conflict
from interop.hl7.services import receive, reprocess_message
from interop.models import HL7Message, HL7MessageResult
from monitoring import services as monitoring_services
from monitoring.models import Delivery, Notification, OrderResponse, PlateletCheck, PlateletResult
from patients.models import LabResult
from tests.factories import PatientFactory, UserFactory, given_order
from tests.interop.hl7_samples import hl7_time, sample

pytestmark = pytest.mark.db

BEAKER = "beaker_777_3_si_units.hl7"


@pytest.fixture(autouse=True)
def _lab_settings(settings):
    settings.IVIG_HL7_LOCAL_PLATELET_CODES = ["PLTC"]
    settings.IVIG_HL7_MATCH_WINDOW_HOURS = 12
    settings.TIME_ZONE = "UTC"


def check(order, label):
    return PlateletCheck.objects.get(order=order, label=label)


def result_message(mrn, collected, *, control_id, value=85, status="F", filler="S1", name=BEAKER, **kwargs):
    return sample(name, control_id=control_id, mrn=mrn, filler=filler, collected=collected, status=status, value=value)


def send(raw, transport="mllp"):
    return receive(raw, transport=transport)


def msa(ack):
    return ack.text.split("\r")[1].split("|")


def ack_text(ack):
    """The ACK's text: MSA-3, or whole in the informational ERR-8 where MSA-3's 80 characters cut it."""
    segments = ack.text.split("\r")
    informational = [s.split("|") for s in segments if s.startswith("ERR|") and s.split("|")[4] == "I"]
    return informational[0][8] if informational else msa(ack)[3]


def err(ack):
    return ack.text.split("\r")[2].split("|")


def clinical_state():
    """Everything a message could change clinically: results and their history, checks, responses,
    notifications."""
    return (
        PlateletResult.objects.count(),
        PlateletResult.history.count(),
        list(PlateletCheck.objects.order_by("pk").values_list("status", "platelet_count")),
        OrderResponse.history.count(),
        Notification.objects.count(),
    )


@pytest.fixture
def order(hematologist):
    """First infusion completed 30 h ago: the 24 h check was due 6 h ago, the 48 h check is due in 18 h."""
    return given_order(completed_hours_ago=30, prescriber=hematologist, mrn="MRN100")


def due(order, label):
    return check(order, label).due_at


# --- Samples from different laboratory systems ---------------------------------------------------------------


def test_a_final_loinc_777_3_result_in_10e9_per_l_closes_the_due_check(order):
    ack = send(result_message("MRN100", hl7_time(due(order, "24h")), control_id="BKR-1", value=41))
    assert (ack.code, msa(ack)[2]) == ("AA", "BKR-1")
    closed = check(order, "24h")
    assert (closed.status, closed.platelet_count, closed.category) == ("resulted", 41, "response")
    result = PlateletResult.objects.get()
    assert (result.source, result.preliminary, result.bleeding, result.platelet_check_id) == (
        "hl7",
        False,
        False,
        closed.pk,
    )
    stored = HL7Message.objects.get(control_id="BKR-1")
    assert (stored.outcome, stored.ack_code, stored.patient_mrn, stored.ack_text) == (
        "accepted_check",
        "AA",
        "MRN100",
        ack.text,
    )
    link = HL7MessageResult.objects.get()
    assert (link.value_original, link.unit_original, link.observation_code) == ("41", "10*9/L^10*9/L^UCUM", "777-3")


def test_a_26515_7_sn_result_in_k_per_ul_timed_by_obr_7_closes_the_nearest_check(order):
    collected = due(order, "24h") + timedelta(hours=3)
    raw = sample(
        "pathnet_26515_7_k_per_ul.hl7",
        control_id="PN-1",
        mrn="MRN100",
        filler="X9",
        collected=hl7_time(collected),
        status="F",
        value=112,
    )
    assert send(raw).code == "AA"
    closed = check(order, "24h")
    assert (closed.status, closed.platelet_count, closed.collected_at) == (
        "resulted",
        112,
        collected.replace(microsecond=0),
    )


def test_a_configured_local_code_in_cells_per_ul_is_divided_by_1000(order):
    raw = sample(
        "molis_local_code_per_ul.hl7",
        control_id="ML-1",
        mrn="MRN100",
        filler="A77",
        collected=hl7_time(due(order, "24h")),
        status="F",
        value=150500,
    )
    assert send(raw).code == "AA"
    assert check(order, "24h").platelet_count == 151
    link = HL7MessageResult.objects.get()
    assert (link.value_original, link.unit_original, str(link.value_10e9_per_l)) == ("150500", "/uL", "150.5000")


def test_in_a_full_blood_count_the_platelet_count_and_the_hemoglobin_are_recorded(order):
    raw = sample(
        "sunquest_cbc_with_haemoglobin.hl7",
        control_id="SQ-1",
        mrn="MRN100",
        filler="B1",
        collected=hl7_time(due(order, "24h")),
        status="F",
        value=64,
    )
    ack = send(raw)
    assert ack.code == "AA"
    assert "hemoglobin 132.0 g/L recorded; 1 other observation(s) not used" in ack_text(ack)
    assert len(msa(ack)[3]) <= 80 and msa(ack)[3].endswith("...")
    assert list(PlateletResult.objects.values_list("platelet_count", flat=True)) == [64]
    # docs/clinical-rules.md §A13: 13.2 g/dL, converted by the unit sent, kept beside the platelet count.
    hb = LabResult.objects.get(source="hl7")
    assert (hb.test, hb.value_si, hb.value_sent, hb.unit_sent, hb.source) == (
        "hemoglobin",
        Decimal("132.0"),
        "13.2",
        "g/dL",
        "hl7",
    )
    # Sent again, nothing more is recorded.
    assert send(raw.replace("SQ-1", "SQ-1-again")).code == "AA"
    assert LabResult.objects.filter(source="hl7").count() == 1


def test_two_platelet_counts_with_different_times_close_their_own_checks(hematologist):
    order = given_order(completed_hours_ago=60, prescriber=hematologist, mrn="MRN200")
    raw = sample(
        "two_platelet_counts.hl7",
        control_id="TWO-1",
        mrn="MRN200",
        filler_1="P1",
        filler_2="P2",
        collected_1=hl7_time(due(order, "24h") + timedelta(hours=1)),
        collected_2=hl7_time(due(order, "48h") - timedelta(hours=2)),
        value_1=22,
        value_2=48,
    )
    assert send(raw).code == "AA"
    assert [
        (c.label, c.status, c.platelet_count) for c in PlateletCheck.objects.filter(order=order).order_by("due_at")
    ] == [
        ("24h", "resulted", 22),
        ("48h", "resulted", 48),
        ("72h", "scheduled", None),
        ("7d", "scheduled", None),
        ("14d", "scheduled", None),
        ("28d", "scheduled", None),
    ]
    assert HL7Message.objects.get().platelet_results.count() == 2


def test_lf_separated_and_offset_timed_messages_are_read_like_cr_ones(order):
    collected = due(order, "24h")
    raw = result_message("MRN100", hl7_time(collected, offset_hours=-5), control_id="LF-1", value=33).replace(
        "\r", "\n"
    )
    assert send(raw).code == "AA"
    assert check(order, "24h").collected_at == collected.replace(microsecond=0)


def test_a_time_without_offset_is_the_hospitals_wall_clock(settings, order):
    settings.TIME_ZONE = "America/New_York"  # EST in November: UTC-5
    collected = due(order, "24h").replace(microsecond=0)
    wall = hl7_time(collected, zone=timezone.get_current_timezone())
    assert send(result_message("MRN100", wall, control_id="TZ-1", value=33)).code == "AA"
    assert check(order, "24h").collected_at == collected


# --- Statuses ------------------------------------------------------------------------------------------------


def test_a_preliminary_result_is_shown_but_neither_classified_nor_closes_then_the_final_does(order):
    collected = hl7_time(due(order, "24h"))
    ack = send(result_message("MRN100", collected, control_id="P-1", value=20, status="P"))
    assert ack.code == "AA"
    assert HL7Message.objects.get(control_id="P-1").outcome == "preliminary"
    assert check(order, "24h").status == "scheduled"  # still open (the sweep has not run in this test)
    assert PlateletResult.objects.get().preliminary is True
    assert OrderResponse.objects.get(order=order).category == "pending"

    send(result_message("MRN100", collected, control_id="F-1", value=26, status="F"))
    assert HL7Message.objects.get(control_id="F-1").outcome == "accepted_check"
    assert (check(order, "24h").status, check(order, "24h").platelet_count) == ("resulted", 26)
    assert list(PlateletResult.objects.order_by("pk").values_list("platelet_count", "preliminary")) == [
        (20, True),
        (26, False),
    ]


def test_a_correction_supersedes_the_final_result_which_stays_in_history(order):
    collected = hl7_time(due(order, "24h"))
    send(result_message("MRN100", collected, control_id="F-2", value=41))
    assert OrderResponse.objects.get(order=order).category == "response"
    ack = send(result_message("MRN100", collected, control_id="C-2", value=14, status="C"))
    assert ack.code == "AA"
    first, correction = PlateletResult.objects.order_by("pk")
    assert (first.platelet_count, first.superseded_by_id) == (41, correction.pk)
    assert (correction.platelet_count, correction.superseded_by_id) == (14, None)
    assert check(order, "24h").platelet_count == 14
    assert OrderResponse.objects.get(order=order).category == "no_response"
    # A lab result leaves bleeding not assessed; the correction says why it exists (docs/clinical-rules.md §A12).
    assert (first.status, correction.status, correction.change_reason) == (
        "superseded",
        "corrected",
        "Laboratory correction",
    )
    assert (correction.bleeding_assessed, OrderResponse.objects.get(order=order).bleeding_unassessed) == (False, False)


def test_the_same_final_result_resent_under_a_new_control_id_records_nothing_more(order):
    collected = hl7_time(due(order, "24h"))
    send(result_message("MRN100", collected, control_id="F-3", value=41))
    ack = send(result_message("MRN100", collected, control_id="F-3-again", value=41))
    assert ack.code == "AA"
    assert "already recorded" in msa(ack)[3]
    assert HL7Message.objects.get(control_id="F-3-again").outcome == "ignored"
    assert PlateletResult.objects.count() == 1


def test_result_cannot_be_obtained_records_nothing_and_is_acknowledged(order):
    before = clinical_state()
    ack = send(result_message("MRN100", hl7_time(due(order, "24h")), control_id="X-1", value="", status="X"))
    assert ack.code == "AA"
    assert HL7Message.objects.get(control_id="X-1").outcome == "ignored"
    assert clinical_state() == before


def test_a_deletion_is_refused_with_the_reason_and_the_result_stays(order):
    collected = hl7_time(due(order, "24h"))
    send(result_message("MRN100", collected, control_id="F-4", value=41))
    before = clinical_state()
    ack = send(result_message("MRN100", collected, control_id="D-4", value="", status="D"))
    assert ack.code == "AE"
    result = PlateletResult.objects.get()
    assert f"withdraws result #{result.pk}" in err(ack)[8]
    assert HL7Message.objects.get(control_id="D-4").outcome == "error"
    assert clinical_state() == before


# --- Matching a check, or the active order -----------------------------------------------------------------


def test_a_result_far_from_every_due_time_is_an_ad_hoc_result_of_the_active_order(hematologist):
    order = given_order(completed_hours_ago=200, prescriber=hematologist, mrn="MRN300")
    collected = timezone.now() - timedelta(hours=80)  # 48 h after the 72 h check, 48 h before the 7 d one
    ack = send(result_message("MRN300", hl7_time(collected), control_id="AH-1", value=150))
    assert ack.code == "AA"
    result = PlateletResult.objects.get()
    assert (result.order_id, result.platelet_check_id) == (order.pk, None)
    assert HL7Message.objects.get().outcome == "accepted_adhoc"
    assert OrderResponse.objects.get(order=order).category == "complete_response"


def test_a_correction_of_an_ad_hoc_result_is_refused_for_review(hematologist):
    given_order(completed_hours_ago=200, prescriber=hematologist, mrn="MRN301")
    collected = hl7_time(timezone.now() - timedelta(hours=80))
    send(result_message("MRN301", collected, control_id="AH-2", value=150))
    before = clinical_state()
    ack = send(result_message("MRN301", collected, control_id="AH-2C", value=15, status="C"))
    assert ack.code == "AE"
    assert "cannot be superseded automatically" in err(ack)[8]
    assert clinical_state() == before


def test_a_lab_result_for_a_sample_already_typed_in_corrects_that_check(client_for, nurse, order):
    collected = due(order, "24h").replace(microsecond=0)
    typed = client_for(nurse).post(
        f"/api/v1/platelet-checks/{check(order, '24h').pk}/result/",
        {"platelet_count": 40, "collected_at": collected.isoformat(), "bleeding": False},
    )
    assert typed.status_code == 200
    assert send(result_message("MRN100", hl7_time(collected), control_id="LAB-AFTER-PHONE", value=44)).code == "AA"
    manual, lab = PlateletResult.objects.order_by("pk")
    assert (manual.source, manual.superseded_by_id, lab.source, lab.platelet_check_id) == (
        "manual",
        lab.pk,
        "hl7",
        check(order, "24h").pk,
    )
    # The lab cannot grade bleeding: what the nurse recorded for this sample stays with the lab's count.
    assert (lab.bleeding_assessed, lab.bleeding) == (True, False)


# --- Idempotency -------------------------------------------------------------------------------------------


def test_a_resent_message_changes_nothing_and_gets_identical_ack_bytes(order):
    raw = result_message("MRN100", hl7_time(due(order, "24h")), control_id="DUP-1", value=41)
    first = send(raw, transport="mllp")
    state = clinical_state()
    # The same message over another transport, with other line ends and MSH-7 rebuilt by the interface engine.
    again = send(raw.replace("\r", "\r\n").replace("|20261123120000||ORU", "|20261123120500||ORU"), transport="http")
    assert again.text.encode() == first.text.encode()
    assert (again.duplicate, again.message_id) == (True, first.message_id)
    assert clinical_state() == state
    assert (HL7Message.objects.count(), PlateletResult.objects.count()) == (1, 1)


def test_a_reused_control_id_on_a_different_message_is_refused_not_confused_with_a_resend(order):
    collected = hl7_time(due(order, "24h"))
    send(result_message("MRN100", collected, control_id="REUSED", value=41))
    state = clinical_state()
    ack = send(result_message("MRN100", collected, control_id="REUSED", value=99))
    assert (ack.code, ack.duplicate) == ("AE", False)
    assert err(ack)[3] == "205^Duplicate key identifier^HL70357"
    assert clinical_state() == state
    assert HL7Message.objects.filter(control_id__isnull=True, outcome="error").count() == 1


# --- Bad messages: AE/AR with ERR, nothing changes ---------------------------------------------------------


def _bad_messages(order):
    collected = hl7_time(due(order, "24h"))
    good = result_message("MRN100", collected, control_id="BAD-1")
    future = hl7_time(timezone.now() + timedelta(hours=2))
    return {
        "not hl7": ("Platelets 85 for MRN100 please", "AR", "100"),
        "wrong type": (sample("adt_a01_admission.hl7", control_id="BAD-1", mrn="MRN100"), "AR", "200"),
        "segment order": (
            sample("obx_before_obr.hl7", control_id="BAD-1", mrn="MRN100", filler="S1", collected=collected),
            "AR",
            "100",
        ),
        "no control id": (good.replace("|BAD-1|", "||"), "AR", "101"),
        "non-numeric": (result_message("MRN100", collected, control_id="BAD-1", value="clumped"), "AE", "102"),
        "impossible count": (result_message("MRN100", collected, control_id="BAD-1", value=2500), "AE", "102"),
        "unknown unit": (good.replace("10*9/L^10*9/L^UCUM", "g/dL"), "AE", "103"),
        "future time": (result_message("MRN100", future, control_id="BAD-1"), "AE", "102"),
        "unknown mrn": (result_message("NOBODY", collected, control_id="BAD-1"), "AE", "204"),
        "bad obx among good": (
            sample(
                "two_platelet_counts.hl7",
                control_id="BAD-1",
                mrn="MRN100",
                filler_1="P1",
                filler_2="P2",
                collected_1=collected,
                collected_2=collected,
                value_1=40,
                value_2="n/a",
            ),
            "AE",
            "102",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "not hl7",
        "wrong type",
        "segment order",
        "no control id",
        "non-numeric",
        "impossible count",
        "unknown unit",
        "future time",
        "unknown mrn",
        "bad obx among good",
    ],
)
def test_bad_messages_get_ae_or_ar_with_err_and_change_nothing(order, case):
    raw, code, condition = _bad_messages(order)[case]
    before = clinical_state()
    ack = send(raw)
    assert ack.code == code
    assert msa(ack)[1] == code
    assert err(ack)[0] == "ERR" and err(ack)[3].startswith(f"{condition}^")
    assert err(ack)[8]  # the reason
    assert clinical_state() == before
    stored = HL7Message.objects.get()
    assert (stored.outcome, stored.ack_code, stored.ack_text, stored.raw) == ("error", code, ack.text, raw)


# --- The error queue and re-processing ---------------------------------------------------------------------


def test_an_unknown_mrn_waits_in_the_queue_and_is_reprocessed_after_the_patient_is_fixed(hematologist):
    collected = timezone.now() - timedelta(hours=6)
    raw = result_message("MRN404", hl7_time(collected), control_id="Q-1", value=41)
    first = send(raw)
    assert first.code == "AE" and "No patient with MRN MRN404" in err(first)[8]
    queued = HL7Message.objects.get(control_id="Q-1")
    assert queued.outcome == "error"

    order = given_order(completed_hours_ago=30, prescriber=hematologist, mrn="MRN404")
    staff = UserFactory(username="it-admin", is_staff=True, is_superuser=True)
    ack = reprocess_message(queued.pk, user=staff)
    assert ack.code == "AA"
    queued.refresh_from_db()
    assert (queued.outcome, queued.reprocessed_count, queued.ack_text) == ("accepted_check", 1, ack.text)
    assert check(order, "24h").status == "resulted"
    history = list(queued.history.order_by("history_date").values_list("outcome", "ack_code", "history_user__username"))
    assert history == [("error", "AE", None), ("accepted_check", "AA", "it-admin")]
    # The lab resending now gets the new ACK and still changes nothing.
    assert send(raw).text == ack.text
    assert PlateletResult.objects.count() == 1
    with pytest.raises(Conflict):
        reprocess_message(queued.pk, user=staff)


def test_no_order_under_way_is_an_application_error_in_the_queue(db):
    PatientFactory(mrn="MRN500")
    ack = send(result_message("MRN500", hl7_time(timezone.now() - timedelta(hours=1)), control_id="NO-ORDER"))
    assert ack.code == "AE"
    assert "no IVIG order under way" in err(ack)[8]
    assert HL7Message.objects.filter(outcome="error").count() == 1


def test_the_admin_lists_the_queue_by_outcome_and_reprocesses(client, hematologist):
    send(result_message("MRN600", hl7_time(timezone.now() - timedelta(hours=6)), control_id="ADM-1"))
    given_order(completed_hours_ago=30, prescriber=hematologist, mrn="MRN600")
    staff = UserFactory(username="it-admin2", is_staff=True, is_superuser=True)
    client.force_login(staff)
    listing = client.get("/admin/interop/hl7message/?outcome__exact=error")
    assert listing.status_code == 200
    assert b"ADM-1" in listing.content
    message = HL7Message.objects.get(control_id="ADM-1")
    response = client.post(
        "/admin/interop/hl7message/", {"action": "reprocess", "_selected_action": [message.pk]}, follow=True
    )
    assert response.status_code == 200
    assert b"Re-processed: 1 AA." in response.content
    assert HL7Message.objects.get(pk=message.pk).outcome == "accepted_check"
    assert client.get(f"/admin/interop/hl7message/{message.pk}/change/").status_code == 200


# --- The response, exactly as a typed result drives it -----------------------------------------------------


def test_an_hl7_result_closes_its_check_and_stops_its_reminder(hematologist):
    nurses = [UserFactory(role="nurse", email=f"ward{i}@hospital.example") for i in range(2)]
    order = given_order(completed_hours_ago=25, nurse=nurses[0], prescriber=hematologist, mrn="MRN700")
    sweep = monitoring_services.run_sweep()
    assert (sweep.due, sweep.notifications) == (1, 2)
    deliveries = list(Delivery.objects.filter(notification__platelet_check=check(order, "24h")))
    assert len(deliveries) == 2
    collected = timezone.now() - timedelta(minutes=30)
    assert send(result_message("MRN700", hl7_time(collected), control_id="REM-1", value=60)).code == "AA"
    assert check(order, "24h").status == "resulted"
    assert [monitoring_services.deliver(d.pk) for d in deliveries] == ["skipped", "skipped"]


def test_non_response_reached_by_hl7_results_notifies_the_hematologist_once(hematologist):
    order = given_order(completed_hours_ago=80, prescriber=hematologist, mrn="MRN800")  # baseline 12
    messages = {
        label: result_message(
            "MRN800", hl7_time(due(order, label)), control_id=f"NR-{label}", filler=f"S-{label}", value=count
        )
        for label, count in [("24h", 14), ("48h", 16), ("72h", 18)]
    }
    send(messages["24h"])
    send(messages["48h"])
    assert Notification.objects.filter(kind="non_response").count() == 0
    first = send(messages["72h"])
    response = OrderResponse.objects.get(order=order)
    assert (response.category, response.repeat_dose_recommended) == ("no_response", True)
    assert Notification.objects.filter(kind="non_response", recipient=hematologist).count() == 1
    again = send(messages["72h"])
    assert again.text == first.text
    assert Notification.objects.filter(kind="non_response").count() == 1


def test_a_result_from_another_sample_at_the_same_time_stands_beside_the_first_not_as_its_correction(order):
    collected = hl7_time(due(order, "24h"))
    send(result_message("MRN100", collected, control_id="S-1", value=41, filler="SAMPLE-A"))
    ack = send(result_message("MRN100", collected, control_id="S-2", value=44, filler="SAMPLE-B"))

    assert ack.code == "AA", ack.text
    first, second = PlateletResult.objects.order_by("pk")
    assert (first.superseded_by_id, first.status, first.platelet_count) == (None, "final", 41)
    assert (second.superseded_by_id, second.status, second.platelet_count) == (None, "final", 44)
    assert "is another sample than result" in ack_text(ack) and "not as a correction" in ack_text(ack)
    # The same sample again is still its correction.
    send(result_message("MRN100", collected, control_id="S-3", value=40, filler="SAMPLE-A", status="C"))
    assert PlateletResult.objects.get(pk=first.pk).superseded_by_id is not None


# --- Batches -------------------------------------------------------------------------------------------------


def batch_file(*messages):
    body = "\r".join(message.rstrip("\r") for message in messages)
    return (
        "FHS|^~\\&|LAB|CORE_LAB|IVIG_TRACKER|HOSP|20261124120000||||FILE-7\r"
        "BHS|^~\\&|LAB|CORE_LAB|IVIG_TRACKER|HOSP|20261124120000||||BATCH-7\r"
        f"{body}\rBTS|{len(messages)}\rFTS|1\r"
    )


@pytest.mark.parametrize("transport", ["mllp", "http"])
def test_a_batch_file_is_processed_message_by_message_with_a_batch_of_acks(order, transport, client_for, nurse):
    good = result_message("MRN100", hl7_time(due(order, "24h")), control_id="B-1", value=41)
    unknown = result_message("NOBODY", hl7_time(due(order, "24h")), control_id="B-2", value=50)
    raw = batch_file(good, unknown)
    if transport == "http":
        response = client_for(nurse).post("/api/v1/hl7/oru/", raw, content_type="text/plain")
        ack_text, code = response.content.decode(), response["X-HL7-Ack-Code"]
    else:
        ack = send(raw)
        ack_text, code = ack.text, ack.code

    segments = [s for s in ack_text.split("\r") if s]
    assert [s[:3] for s in segments] == ["FHS", "BHS", "MSH", "MSA", "MSH", "MSA", "ERR", "BTS", "FTS"]
    assert segments[0].split("|")[2:6] == ["IVIG_TRACKER", "HOSP", "LAB", "CORE_LAB"]
    assert segments[0].split("|")[11] == "FILE-7" and segments[1].split("|")[11] == "BATCH-7"
    assert segments[3].split("|")[1:3] == ["AA", "B-1"]
    assert segments[5].split("|")[1:3] == ["AE", "B-2"]
    assert segments[7] == "BTS|2" and segments[8] == "FTS|1"
    assert code == "AE"  # the worst of the batch
    # Each message stands on its own: the good one's count is recorded, the other waits in the queue.
    assert check(order, "24h").platelet_count == 41
    assert set(HL7Message.objects.values_list("control_id", "outcome")) == {("B-1", "accepted_check"), ("B-2", "error")}


def test_a_batch_file_with_no_message_is_stored_and_refused_as_a_whole(db):
    ack = send("FHS|^~\\&|LAB\rBHS|^~\\&|LAB\rPID|1||X\rBTS|0\rFTS|1\r")
    assert ack.code == "AR"
    assert HL7Message.objects.get().ack_code == "AR"


def test_a_training_message_does_not_reserve_its_control_id_for_the_production_one(order):
    collected = hl7_time(due(order, "24h"))
    training = result_message("MRN100", collected, control_id="T-1", value=41).replace("|P|2.5.1|", "|T|2.5.1|")
    assert send(training).code == "AR"
    live = send(result_message("MRN100", collected, control_id="T-1", value=41))
    assert live.code == "AA", live.text
    assert check(order, "24h").platelet_count == 41


def test_a_body_starting_msh_cr_is_an_ar_over_http_not_a_500(client_for, nurse):
    response = client_for(nurse).post("/api/v1/hl7/oru/", "MSH\rPID|1", content_type="text/plain")
    assert response.status_code == 200
    assert response["X-HL7-Ack-Code"] == "AR"


def test_msh_18_wins_over_the_http_charset_when_the_message_declares_one(client_for, nurse, order):
    collected = hl7_time(due(order, "24h"))
    raw = result_message("MRN100", collected, control_id="L-1", value=41).replace("|AL|NE", "|AL|NE|||8859/1")
    response = client_for(nurse).post(
        "/api/v1/hl7/oru/", raw.encode("latin-1"), content_type="text/plain; charset=utf-8"
    )
    assert response["X-HL7-Ack-Code"] == "AA", response.content

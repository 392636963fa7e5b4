"""What the laboratory sent us over HL7 v2, kept raw with what became of it (audit and replay)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from monitoring.models import PlateletResult


class HL7Message(models.Model):
    """One HL7 v2 message as received, its outcome and the exact acknowledgement we sent.

    ``control_id`` (MSH-10) is unique: a resent message finds the stored row and gets the stored ACK again,
    byte for byte, and changes nothing. It is null only for input that has no usable MSH-10 (not HL7 at all, an
    empty MSH-10, or a control ID already used by a different message); such rows are kept for the audit.
    """

    class Transport(models.TextChoices):
        MLLP = "mllp", "MLLP (TCP)"
        HTTP = "http", "HTTP (POST /api/v1/hl7/oru/)"

    class Outcome(models.TextChoices):
        ACCEPTED_CHECK = "accepted_check", "Accepted: closed or corrected a platelet check"
        ACCEPTED_ADHOC = "accepted_adhoc", "Accepted: ad hoc result of the active order"
        PRELIMINARY = "preliminary", "Accepted: preliminary result (not classified)"
        ACCEPTED_LAB = "accepted_lab", "Accepted: creatinine, hemoglobin or blood group recorded"
        IGNORED = "ignored", "Accepted: nothing to record"
        ERROR = "error", "Error (needs attention)"

    class AckCode(models.TextChoices):
        ACCEPT = "AA", "AA (application accept)"
        ERROR = "AE", "AE (application error)"
        REJECT = "AR", "AR (application reject)"

    control_id = models.CharField("message control ID (MSH-10)", max_length=199, null=True, blank=True)
    raw = models.TextField(help_text="The message exactly as received.")
    received_at = models.DateTimeField(default=timezone.now)
    transport = models.CharField(max_length=4, choices=Transport.choices)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="The interface account that posted it (HTTP); empty for MLLP.",
    )
    message_type = models.CharField("message type (MSH-9)", max_length=40, blank=True)
    sending_application = models.CharField("sending application (MSH-3)", max_length=200, blank=True)
    sending_facility = models.CharField("sending facility (MSH-4)", max_length=200, blank=True)
    patient_mrn = models.CharField("patient MRN (PID-3)", max_length=64, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    ack_code = models.CharField(max_length=2, choices=AckCode.choices)
    ack_text = models.TextField("ACK sent", help_text="The exact acknowledgement sent, returned again for a resend.")
    error = models.TextField(blank=True)
    platelet_results = models.ManyToManyField(
        PlateletResult, through="HL7MessageResult", related_name="hl7_messages", blank=True
    )
    processed_at = models.DateTimeField()
    reprocessed_count = models.PositiveIntegerField(default=0)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "HL7 message"
        ordering = ["-received_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["control_id"], name="hl7_message_one_per_control_id"),
        ]
        indexes = [
            # The admin's queue: messages by outcome (errors to fix and re-process), newest first.
            models.Index(fields=["outcome", "-received_at"], name="hl7_message_outcome_queue_idx"),
            # "What did the lab send for this patient?" (admin search by MRN).
            models.Index(fields=["patient_mrn", "-received_at"], name="hl7_message_by_mrn_idx"),
        ]

    def __str__(self) -> str:
        return f"HL7 {self.message_type or 'message'} {self.control_id or f'#{self.pk}'}: {self.ack_code}"


class HL7MessageResult(models.Model):
    """A platelet result created from one OBX of a message, with the value and unit exactly as the lab sent
    them. It also identifies the observation (specimen + code + sub-ID), so a later correction (OBX-11 C) of the
    same observation finds the result it replaces."""

    message = models.ForeignKey(HL7Message, on_delete=models.PROTECT, related_name="results")
    platelet_result = models.ForeignKey(PlateletResult, on_delete=models.PROTECT, related_name="hl7_sources")
    obx_index = models.PositiveSmallIntegerField(help_text="Position of the OBX among the message's OBX segments.")
    observation_code = models.CharField("observation code (OBX-3)", max_length=64)
    observation_sub_id = models.CharField("observation sub-ID (OBX-4)", max_length=20, blank=True)
    specimen_id = models.CharField(
        "filler order number (OBR-3, else placer OBR-2)", max_length=200, blank=True, help_text="Identifies the sample."
    )
    result_status = models.CharField("result status (OBX-11)", max_length=1)
    value_original = models.CharField("value as sent (OBX-5)", max_length=200)
    unit_original = models.CharField("unit as sent (OBX-6)", max_length=200)
    value_10e9_per_l = models.DecimalField(
        "value in ×10⁹/L before rounding", max_digits=14, decimal_places=4, help_text="Rounded half up to the count."
    )
    reference_range = models.CharField("reference range (OBX-7)", max_length=60, blank=True)
    abnormal_flag = models.CharField("abnormal flag (OBX-8)", max_length=5, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "HL7 result"
        ordering = ["message", "obx_index"]
        constraints = [
            models.UniqueConstraint(fields=["message", "obx_index"], name="hl7_result_one_per_obx"),
        ]
        indexes = [
            # A correction finds the earlier result of the same observation of the same sample.
            models.Index(
                fields=["specimen_id", "observation_code", "observation_sub_id"], name="hl7_result_same_obs_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"OBX {self.obx_index} of {self.message}: {self.value_original} {self.unit_original}"


class LocalObservationCode(models.Model):
    """A laboratory's own code for a result (OBX-3 identifier), mapped per sending facility (MSH-4) to what it
    names. A message naming a platelet count by an unmapped local code waits in the error queue until it is mapped
    here (then re-processed); nothing is ignored."""

    class Test(models.TextChoices):
        PLATELET_COUNT = "platelet_count", "Platelet count"
        CREATININE = "creatinine", "Creatinine"
        HEMOGLOBIN = "hemoglobin", "Hemoglobin"
        BLOOD_GROUP = "blood_group", "Blood group (ABO/Rh)"
        NOT_A_COUNT = "not_a_count", "Not a platelet count (a smear comment or an index): not recorded"

    sending_facility = models.CharField(
        "sending facility (MSH-4)", max_length=200, help_text="As the laboratory writes it in MSH-4 (its first part)."
    )
    code = models.CharField("code (OBX-3 identifier)", max_length=64)
    test = models.CharField(max_length=16, choices=Test.choices)
    description = models.CharField(
        max_length=200, blank=True, help_text="The laboratory's name for it, e.g. Thrombozyten (LAB400)."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    history = HistoricalRecords()

    class Meta:
        verbose_name = "local observation code"
        ordering = ["sending_facility", "code"]
        constraints = [
            models.UniqueConstraint(fields=["sending_facility", "code"], name="local_code_one_per_facility"),
        ]

    def __str__(self) -> str:
        return f"{self.code} from {self.sending_facility}: {self.get_test_display()}"


class SMARTGrantPatient(models.Model):
    """The patient a clinician chose when authorising a SMART app's standalone launch (scope ``launch/patient``),
    held beside django-oauth-toolkit's authorization code until the app exchanges it: the token made from the
    code gets the same patient (interop/fhir/launch.py). Goes with its code."""

    grant = models.OneToOneField("oauth2_provider.Grant", on_delete=models.CASCADE, related_name="smart_patient")
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"Launch patient #{self.patient_id} of grant #{self.grant_id}"


class SMARTTokenPatient(models.Model):
    """An access token's patient context: with a ``patient/`` scope the token reads this patient's compartment
    only. Made with the token, from its code or from the token its refresh token came with; goes with the token,
    and a ``patient/`` token without one reads nothing."""

    access_token = models.OneToOneField(
        "oauth2_provider.AccessToken", on_delete=models.CASCADE, related_name="smart_patient"
    )
    patient = models.ForeignKey("patients.Patient", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Patient #{self.patient_id} of access token #{self.access_token_id}"

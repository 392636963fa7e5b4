from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from monitoring import services
from monitoring.models import Delivery, Notification, PlateletCheck
from tests.factories import UserFactory, given_order

pytestmark = pytest.mark.db


@pytest.fixture
def nurses(db):
    return [UserFactory(role="nurse", email=f"nurse{i}@ward.example") for i in range(2)]


def test_a_check_that_falls_due_reminds_every_nurse_once(nurses, hematologist):
    order = given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    first = services.run_sweep()
    assert first.due == 1
    assert first.notifications == 2
    due_check = PlateletCheck.objects.get(order=order, label="24h")
    assert due_check.status == "due"
    assert set(Notification.objects.values_list("recipient__username", "kind")) == {
        (nurses[0].username, "platelet_check_due"),
        (nurses[1].username, "platelet_check_due"),
    }
    second = services.run_sweep()
    assert (second.due, second.notifications) == (0, 0)
    assert Notification.objects.count() == 2


def test_an_overdue_check_reaches_the_nurses_and_the_ordering_hematologist(nurses, hematologist):
    given_order(
        nurse=nurses[0], prescriber=hematologist, completed_hours_ago=37
    )  # 24 h check due 13 h ago: overdue after 12 h
    result = services.run_sweep()
    assert result.overdue == 1
    kinds = sorted(Notification.objects.values_list("recipient__username", "kind"))
    assert kinds == sorted(
        [(n.username, "platelet_check_overdue") for n in nurses] + [(hematologist.username, "platelet_check_overdue")]
    )


def test_a_resulted_or_cancelled_check_is_not_reminded(nurses, hematologist):
    order = given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    first = order.infusions.get(day_number=1)
    services.record_platelet_result(
        check_id=PlateletCheck.objects.get(order=order, label="24h").pk,
        platelet_count=40,
        collected_at=first.completed_at + timedelta(hours=23),
        bleeding=False,
        user=nurses[0],
    )
    assert services.run_sweep().notifications == 0


def test_checks_not_yet_due_stay_scheduled(nurses, hematologist):
    order = given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=1)
    assert services.run_sweep().notifications == 0
    assert set(PlateletCheck.objects.filter(order=order).values_list("status", flat=True)) == {"scheduled"}


def test_each_reminder_gets_one_email_delivery_for_recipients_with_an_address(nurses, hematologist, settings):
    settings.IVIG_WEBHOOK_URL = ""
    given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    services.run_sweep()
    assert Delivery.objects.filter(channel="email").count() == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {"claimed"}  # enqueued for a worker


def test_send_due_reminders_prints_what_it_sent_and_sends_nothing_the_second_time(nurses, hematologist):
    given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    out = StringIO()
    call_command("send_due_reminders", stdout=out)
    assert out.getvalue().startswith("Sent 2 reminder(s)")
    out = StringIO()
    call_command("send_due_reminders", stdout=out)
    assert out.getvalue().startswith("Sent 0 reminder(s)")


def test_the_sweep_records_its_heartbeat(nurses):
    from core.models import Heartbeat

    services.run_sweep()
    assert timezone.now() - Heartbeat.objects.get(name="reminder_sweep").last_seen_at < timedelta(seconds=5)


def test_an_expired_lease_is_returned_to_pending_and_enqueued_again(nurses, hematologist):
    given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    services.run_sweep()
    Delivery.objects.update(claimed_until=timezone.now() - timedelta(seconds=1))
    result = services.run_sweep()
    assert (result.reaped, result.enqueued) == (2, 2)


def test_a_delivery_for_a_check_resulted_since_is_skipped(nurses, hematologist, mailoutbox):
    order = given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    services.run_sweep()
    check = PlateletCheck.objects.get(order=order, label="24h")
    first = order.infusions.get(day_number=1)
    services.record_platelet_result(
        check_id=check.pk, platelet_count=40, collected_at=first.completed_at + timedelta(hours=24), bleeding=False
    )
    outcomes = [services.deliver(d.pk) for d in Delivery.objects.all()]
    assert outcomes == ["skipped", "skipped"]
    assert mailoutbox == []


def test_a_delivery_is_sent_once_even_when_the_task_runs_twice(nurses, hematologist, mailoutbox):
    given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
    services.run_sweep()
    delivery = Delivery.objects.first()
    assert services.deliver(delivery.pk) == "sent"
    assert services.deliver(delivery.pk) == "duplicate"
    assert len(mailoutbox) == 1
    assert mailoutbox[0].to == [delivery.notification.recipient.email]


def test_the_sweep_runs_a_constant_number_of_queries_per_batch(nurses, hematologist, settings):
    settings.IVIG_SWEEP_BATCH_SIZE = 100

    def queries_for_a_batch_of(orders: int) -> int:
        for _ in range(orders):
            given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
        PlateletCheck.objects.filter(due_at__lte=timezone.now(), status="scheduled").update(status="due")
        with CaptureQueriesContext(connection) as queries:
            created, batches = services.remind_batch(timezone.now(), nurses)
        assert (created, batches) == (2 * orders, 1)
        return len(queries)

    small, large = queries_for_a_batch_of(3), queries_for_a_batch_of(12)
    assert small == large


def test_moving_checks_due_with_their_history_takes_the_same_queries_for_3_or_12_courses(
    nurses, hematologist, settings
):
    settings.IVIG_SWEEP_BATCH_SIZE = 100

    # Each moved check gets its history row, in one bulk insert: the cost does not grow with the rows.
    def queries_to_move(orders: int) -> int:
        for _ in range(orders):
            given_order(nurse=nurses[0], prescriber=hematologist, completed_hours_ago=25)
        with CaptureQueriesContext(connection) as queries:
            result = services.run_sweep()
        assert result.due == orders
        return sum(1 for query in queries.captured_queries if "platelet" in query["sql"].lower())

    small, large = queries_to_move(3), queries_to_move(12)
    assert small == large
    assert PlateletCheck.history.filter(status="due", history_type="~").count() == 15

"""Reminders are never lost and never doubled, under real faults (docs/architecture.md "The reminder
pipeline"): a private redis-server stopped and restarted, Celery workers in subprocesses
killed with SIGKILL mid-delivery, a task published twice, two sweeps at once, a lost ``on_commit``.

The invariant every test ends on: each delivery row is ``sent``, the SMTP sink accepted exactly one email for
it, and nothing is left in Redis (queued or unacknowledged) that could send another.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone
from redis.exceptions import RedisError

from core.models import Heartbeat
from ivig_tracker.celery import app as celery_app
from monitoring import services
from monitoring.models import Delivery, Notification, NotificationKind, PlateletCheck
from monitoring.tasks import deliver
from tests.factories import UserFactory, given_order
from tests.faults.harness import LEASE_SECONDS, WAIT_SECONDS, Mailbox, RedisServer, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- Given ---------------------------------------------------------------------------------------------------


def nurses_with_email(count: int) -> list[Any]:
    return [UserFactory(role="nurse", email=f"fault-nurse{i}@ward.example") for i in range(count)]


def order_with_a_check_due(nurses: list[Any], prescriber: Any) -> Any:
    """The first infusion ended 25 h ago: its 24 h check is due (and not yet overdue)."""
    return given_order(nurse=nurses[0], prescriber=prescriber, completed_hours_ago=25)


@contextmanager
def on_commit_lost() -> Iterator[list[Any]]:
    """Every ``transaction.on_commit`` callback is dropped, as when the process dies right after COMMIT."""
    lost: list[Any] = []
    with mock.patch.object(transaction, "on_commit", lambda func, using=None, robust=False: lost.append(func)):
        yield lost


def statuses() -> list[str]:
    return list(Delivery.objects.order_by("pk").values_list("status", flat=True))


def sent() -> int:
    return Delivery.objects.filter(status=Delivery.Status.SENT).count()


def wait_for_leases_to_expire() -> None:
    latest = Delivery.objects.filter(status__in=["claimed", "sending"]).aggregate(Max("claimed_until"))
    until = latest["claimed_until__max"]
    assert until is not None, "no delivery holds a lease"
    remaining = (until - timezone.now()).total_seconds()
    assert remaining <= LEASE_SECONDS
    time.sleep(max(remaining, 0) + 0.2)


def redeliver_unacknowledged() -> int:
    """What Redis does with a message a dead worker took once the visibility timeout has passed (kombu's
    ``restore_visible``), without waiting the timeout: put it back on its queue."""
    with celery_app.connection_for_write() as conn:
        channel = conn.default_channel
        tags = list(channel.client.hkeys(channel.unacked_key))
        for tag in tags:
            channel.qos.restore_by_tag(tag)
    return len(tags)


# --- Then ----------------------------------------------------------------------------------------------------


def state(mailbox: Mailbox, broker: RedisServer) -> str:
    """What a failed wait reports."""
    try:
        redis_state = f"{broker.queued()} queued, {broker.unacked()} unacknowledged"
    except RedisError as exc:
        redis_state = f"redis: {exc}"
    return f"deliveries {statuses()}; {mailbox.count()} email(s) accepted, {mailbox.dropped} dropped; {redis_state}"


def assert_each_delivery_sent_exactly_once(mailbox: Mailbox, broker: RedisServer, deliveries: int) -> None:
    drained = wait_for(
        lambda: sent() == deliveries and mailbox.count() >= deliveries and broker.queued() == broker.unacked() == 0
    )
    assert drained, state(mailbox, broker)
    rows = list(Delivery.objects.select_related("notification__recipient").order_by("pk"))
    assert [row.status for row in rows] == ["sent"] * deliveries
    expected = Counter({(row.notification.recipient.email, row.notification.message): 1 for row in rows})
    assert len(expected) == deliveries
    assert mailbox.counts() == expected


# --- Redis stopped and restarted -----------------------------------------------------------------------------


def test_reminders_that_fall_due_while_redis_is_down_are_each_delivered_once_after_it_restarts(
    broker, mailbox, start_worker
):
    # Given a worker inside the SMTP send of one reminder while the other waits in Redis
    nurses = nurses_with_email(2)
    prescriber = UserFactory(role="hematologist")
    mailbox.hold_first = True
    worker = start_worker("survivor")
    order_with_a_check_due(nurses, prescriber)
    services.run_sweep()
    assert mailbox.holding.wait(WAIT_SECONDS)
    assert broker.queued() == 1

    # When Redis stops (no persistence: the queued message is gone for good)
    broker.stop()
    # and another check falls due, swept while Redis is down: the reminders and their claims are committed,
    # the publish fails, and the sweep still finishes (and records its heartbeat) instead of failing
    order_with_a_check_due(nurses, prescriber)
    during_outage = services.run_sweep()
    assert during_outage.notifications == 2
    assert Heartbeat.objects.get(name="reminder_sweep").last_seen_at >= timezone.now() - timedelta(seconds=30)
    assert Notification.objects.count() == 4
    assert statuses() == ["sending", "claimed", "claimed", "claimed"]
    # and the send in progress completes while Redis is still down
    mailbox.release.set()
    assert wait_for(lambda: sent() == 1), state(mailbox, broker)
    # and Redis restarts, empty, on the same port
    broker.start()
    assert broker.queued() == 0
    wait_for_leases_to_expire()
    after = services.run_sweep()

    # Then the reaper returns the three lost deliveries, and the reconnected worker sends each once
    assert (after.notifications, after.reaped, after.enqueued) == (0, 3, 3)
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=4)
    assert worker.outcomes() == Counter({"sent": 4})


# --- A worker killed with SIGKILL mid-delivery ---------------------------------------------------------------


def test_a_worker_killed_mid_delivery_is_recovered_by_the_reaper_and_its_email_is_sent_once(
    broker, mailbox, start_worker
):
    # Given a worker inside the SMTP send of the first of two reminders
    nurses = nurses_with_email(2)
    mailbox.hold_first = True
    doomed = start_worker("doomed")
    order_with_a_check_due(nurses, UserFactory(role="hematologist"))
    services.run_sweep()
    assert mailbox.holding.wait(WAIT_SECONDS)
    in_flight = Delivery.objects.get(status="sending")

    # When the worker is killed with SIGKILL: the mail server never accepts the message
    doomed.kill()
    mailbox.release.set()
    assert wait_for(lambda: mailbox.dropped == 1), state(mailbox, broker)
    assert mailbox.count() == 0
    # a sweep within the lease leaves the in-flight delivery alone
    assert services.run_sweep().reaped == 0
    # a fresh worker sends the other reminder, which was still queued
    fresh = start_worker("fresh")
    assert wait_for(lambda: sent() == 1 and broker.queued() == 0), state(mailbox, broker)
    # and once the lease has expired the next sweep reaps the killed delivery
    wait_for_leases_to_expire()
    reaper = services.run_sweep()

    # Then it is sent once, on its second attempt
    assert (reaper.reaped, reaper.enqueued) == (1, 1)
    assert wait_for(lambda: sent() == 2 and broker.queued() == 0 and broker.unacked() == 1), state(mailbox, broker)
    in_flight.refresh_from_db()
    assert (in_flight.status, in_flight.attempts) == ("sent", 2)
    assert mailbox.count() == 2

    # And when Redis redelivers the killed worker's unacknowledged message (acks_late), the copy stands down
    assert redeliver_unacknowledged() == 1
    assert wait_for(lambda: fresh.outcomes().total() == 3), fresh.outcomes()
    assert fresh.outcomes() == Counter({"sent": 2, "duplicate": 1})
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=2)


def test_a_pool_process_killed_mid_delivery_is_requeued_as_a_harmless_copy_and_sent_once_after_the_reaper(
    broker, mailbox, start_worker
):
    # Given a prefork worker whose pool process is inside the SMTP send of a reminder
    nurses = nurses_with_email(1)
    mailbox.hold_first = True
    worker = start_worker("prefork", pool="prefork", concurrency=1)
    order_with_a_check_due(nurses, UserFactory(role="hematologist"))
    services.run_sweep()
    assert mailbox.holding.wait(WAIT_SECONDS)
    [pool_process] = worker.pool_processes()

    # When that process is killed with SIGKILL
    os.kill(pool_process, signal.SIGKILL)
    mailbox.release.set()
    assert wait_for(lambda: mailbox.dropped == 1), state(mailbox, broker)
    # reject_on_worker_lost puts the task straight back; its copy finds the delivery still "sending" and
    # stands down rather than risk a second email
    assert wait_for(lambda: worker.outcomes().total() == 1), worker.log()[-3000:]
    assert worker.outcomes() == Counter({"duplicate": 1})
    assert statuses() == ["sending"]
    # and the next sweep after the lease reaps it
    wait_for_leases_to_expire()
    reaper = services.run_sweep()

    # Then it is sent once
    assert (reaper.reaped, reaper.enqueued) == (1, 1)
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=1)
    assert worker.outcomes() == Counter({"duplicate": 1, "sent": 1})
    assert "WorkerLostError" in worker.log()


# --- Duplicates: the same task published twice, two sweeps at once -------------------------------------------


def test_the_same_delivery_task_published_twice_sends_one_email(broker, mailbox, start_worker):
    # Given two claimed deliveries and a worker running two tasks at a time
    nurses = nurses_with_email(2)
    order_with_a_check_due(nurses, UserFactory(role="hematologist"))
    with on_commit_lost():
        services.run_sweep()
    assert statuses() == ["claimed", "claimed"]
    assert broker.queued() == 0
    mailbox.hold_first = True
    worker = start_worker("twins", pool="prefork", concurrency=2)

    # When each delivery task is published twice, the copies side by side on the queue
    for delivery_id in Delivery.objects.order_by("pk").values_list("pk", flat=True):
        deliver.delay(delivery_id)
        deliver.delay(delivery_id)
    # and one copy is inside the SMTP send while its twin runs to the end
    assert mailbox.holding.wait(WAIT_SECONDS)
    assert wait_for(lambda: worker.outcomes().total() >= 1), worker.log()[-3000:]
    mailbox.release.set()

    # Then one copy of each sends and the other stands down
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=2)
    assert worker.outcomes() == Counter({"sent": 2, "duplicate": 2})
    assert list(Delivery.objects.values_list("attempts", flat=True)) == [1, 1]


def test_two_sweeps_at_once_create_each_reminder_once_and_send_each_email_once(broker, mailbox, start_worker, settings):
    # Given three due checks, two nurses, and sweeps that claim one check per batch
    settings.IVIG_SWEEP_BATCH_SIZE = 1
    nurses = nurses_with_email(2)
    prescriber = UserFactory(role="hematologist")
    for _ in range(3):
        order_with_a_check_due(nurses, prescriber)
    worker = start_worker("sweeps")
    barrier = threading.Barrier(2)
    results: list[services.SweepResult] = []
    errors: list[BaseException] = []

    def sweep() -> None:
        try:
            barrier.wait(timeout=10)
            results.append(services.run_sweep())
        except BaseException as exc:  # reported below, with the thread's own connection closed
            errors.append(exc)
        finally:
            connection.close()

    # When two sweeps run at the same moment, each on its own database connection
    threads = [threading.Thread(target=sweep, name=f"sweep-{i}") for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=WAIT_SECONDS)

    # Then each reminder is created once and each email is sent once
    assert errors == []
    assert len(results) == 2
    assert sum(result.due for result in results) == 3
    assert sum(result.notifications for result in results) == 6
    assert Notification.objects.count() == 6
    assert PlateletCheck.objects.filter(due_reminded_at__isnull=False).count() == 3
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=6)
    # each delivery was published once: no copy ever had to stand down
    assert worker.outcomes() == Counter({"sent": 6})


# --- A lost on_commit ----------------------------------------------------------------------------------------


def test_a_notification_whose_on_commit_enqueue_was_lost_is_sent_once_by_the_next_sweep(broker, mailbox, start_worker):
    # Given an alert committed with its deliveries, whose on_commit enqueue was lost with its process
    nurses = nurses_with_email(2)
    worker = start_worker("next-sweep")
    with on_commit_lost() as lost, transaction.atomic():
        services.notify(
            recipients=nurses,
            kind=NotificationKind.VITALS_ALERT,
            message="High vital-signs alert: temperature 39.6 °C. Suggested action: stop.",
            dedupe_key="vitals_alert:fault-test",
        )
    assert len(lost) == 1
    assert statuses() == ["pending", "pending"]
    assert broker.queued() == 0

    # When the next sweep runs
    result = services.run_sweep()

    # Then it enqueues them at once (nothing to reap) and each is sent once
    assert (result.reaped, result.enqueued) == (0, 2)
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=2)
    assert worker.outcomes() == Counter({"sent": 2})


def test_deliveries_claimed_by_a_sweep_whose_publish_was_lost_are_reaped_after_the_lease_and_sent_once(
    broker, mailbox, start_worker
):
    # Given a sweep that claimed two deliveries and died before its on_commit publish
    nurses = nurses_with_email(2)
    order_with_a_check_due(nurses, UserFactory(role="hematologist"))
    worker = start_worker("reaped")
    with on_commit_lost() as lost:
        first = services.run_sweep()
    assert (first.notifications, len(lost)) == (2, 2)  # the batch's enqueue, then the publish of its deliveries
    assert statuses() == ["claimed", "claimed"]
    assert broker.queued() == 0

    # When the next sweep runs within the lease, nothing happens yet
    within = services.run_sweep()
    assert (within.notifications, within.reaped, within.enqueued) == (0, 0, 0)
    # and the sweep after the lease has expired
    wait_for_leases_to_expire()
    after = services.run_sweep()

    # Then the reaper returns them to pending, they are enqueued again, and each is sent once
    assert (after.notifications, after.reaped, after.enqueued) == (0, 2, 2)
    assert_each_delivery_sent_exactly_once(mailbox, broker, deliveries=2)
    assert worker.outcomes() == Counter({"sent": 2})

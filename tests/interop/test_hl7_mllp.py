"""The MLLP listener on a free loopback port, over real TCP: framing, several messages per connection, several
connections, a clean stop, and the ``hl7_listener`` command's start and SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from interop.hl7.mllp import END_BLOCK, START_BLOCK, BackgroundListener, MLLPClient
from interop.models import HL7Message
from monitoring.models import PlateletCheck, PlateletResult
from tests.factories import given_order
from tests.interop.hl7_samples import hl7_time, sample

ROOT = Path(__file__).resolve().parents[2]


def message(order, *, control_id, label="24h", value=52):
    due = PlateletCheck.objects.get(order=order, label=label).due_at
    return sample(
        "beaker_777_3_si_units.hl7",
        control_id=control_id,
        mrn=order.patient.mrn,
        filler=f"{control_id}-sample",
        collected=hl7_time(due),
        status="F",
        value=value,
    )


@pytest.fixture
def listener():
    with BackgroundListener("127.0.0.1", 0, idle_timeout=30) as running:
        yield running


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
def test_the_listener_acknowledges_results_sent_over_tcp_and_stores_them(listener, hematologist):
    order = given_order(completed_hours_ago=60, prescriber=hematologist, mrn="MLLP1")
    with MLLPClient(*listener.address, timeout=20) as client:
        first = client.send(message(order, control_id="M-1", label="24h", value=20))
        second = client.send(message(order, control_id="M-2", label="48h", value=28))
        resent = client.send(message(order, control_id="M-1", label="24h", value=20))
    assert first.split("\r")[1].startswith("MSA|AA|M-1|")
    assert second.split("\r")[1].startswith("MSA|AA|M-2|")
    assert resent == first
    assert list(
        PlateletCheck.objects.filter(order=order, status="resulted").values_list("label", "platelet_count")
    ) == [
        ("24h", 20),
        ("48h", 28),
    ]
    assert PlateletResult.objects.count() == 2
    assert set(HL7Message.objects.values_list("transport", flat=True)) == {"mllp"}


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
def test_frames_split_over_many_packets_and_two_connections_at_once(listener, hematologist):
    order = given_order(completed_hours_ago=60, prescriber=hematologist, mrn="MLLP2")
    raw = message(order, control_id="M-3", label="24h").encode()
    framed = START_BLOCK + raw + END_BLOCK
    with socket.create_connection(listener.address, timeout=20) as slow, MLLPClient(*listener.address) as other:
        for index in range(0, len(framed) - 1, 7):  # a slow sender: all but the last byte, in pieces
            slow.sendall(framed[index : min(index + 7, len(framed) - 1)])
        # Meanwhile another connection is served. (Its write does not overlap the slow one's: SQLite's shared
        # in-memory test database refuses concurrent writers outright, where PostgreSQL or a WAL file waits.)
        assert other.send("not hl7 at all").split("\r")[1].startswith("MSA|AR|")
        slow.sendall(framed[-1:])
        answer = b""
        while not answer.endswith(END_BLOCK):
            answer += slow.recv(4096)
    assert answer.startswith(START_BLOCK)
    assert b"MSA|AA|M-3|" in answer
    assert PlateletCheck.objects.get(order=order, label="24h").status == "resulted"


@pytest.mark.db
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_same_message_on_eight_connections_at_once_is_recorded_once_with_one_ack(listener, hematologist):
    order = given_order(completed_hours_ago=60, prescriber=hematologist, mrn="MLLP3")
    raw = message(order, control_id="RACE-1", label="24h", value=31)
    clients = [MLLPClient(*listener.address, timeout=30) for _ in range(8)]
    start = threading.Barrier(len(clients))
    acks: list[str] = []

    def send(client: MLLPClient) -> None:
        start.wait()
        acks.append(client.send(raw))

    threads = [threading.Thread(target=send, args=(client,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for client in clients:
        client.close()
    assert len(acks) == 8
    assert len(set(acks)) == 1 and acks[0].split("\r")[1].startswith("MSA|AA|RACE-1|")
    assert (HL7Message.objects.count(), PlateletResult.objects.count()) == (1, 1)


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
def test_stopping_closes_open_connections_promptly():
    running = BackgroundListener("127.0.0.1", 0, idle_timeout=300).start()
    idle = MLLPClient(*running.address, timeout=10)
    assert idle.send("hello").split("\r")[1].startswith("MSA|AR|")  # served, and now idle on the server
    started = time.monotonic()
    running.stop()
    assert time.monotonic() - started < 5
    assert idle.sock.recv(10) == b""  # the server closed the idle connection
    idle.close()
    with pytest.raises(OSError):
        socket.create_connection(running.address, timeout=2)


def test_the_command_prints_where_it_listens_and_stops_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "DJANGO_DEBUG": "true",
        "IVIG_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'unused.sqlite3'}",
        "CELERY_BROKER_URL": "filesystem://",
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--host", "127.0.0.1", "--port", "0"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("HL7 MLLP listener on 127.0.0.1:"), line
        port = int(line.split("127.0.0.1:")[1].split()[0])
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
        assert "HL7 MLLP listener stopped." in process.stdout.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_connection_beyond_the_limit_waits_then_is_refused_with_an_ack_never_a_silent_close():
    with BackgroundListener("127.0.0.1", 0, max_connections=1, idle_timeout=30, busy_wait=1.0) as running:
        first = socket.create_connection(running.address, timeout=5)
        try:
            time.sleep(0.3)  # the first connection holds the only slot
            second = socket.create_connection(running.address, timeout=5)
            started = time.monotonic()
            answer = second.recv(4096)
            waited = time.monotonic() - started
            second.close()
        finally:
            first.close()
    assert answer.startswith(START_BLOCK) and answer.endswith(END_BLOCK)
    assert b"MSA|AR||HL7 listener busy: 1 connections open" in answer
    assert waited >= 0.5  # it waited for a slot before refusing


def test_a_connection_beyond_the_limit_is_served_once_a_slot_frees(db):
    handled = []

    def handle(text):
        handled.append(text)
        return "MSH|^~\\&|IVIG|||||ACK|A1|P|2.5.1\rMSA|AA|X\r"

    with BackgroundListener(
        "127.0.0.1", 0, max_connections=1, idle_timeout=30, busy_wait=10.0, handle_message=handle
    ) as running:
        first = socket.create_connection(running.address, timeout=5)
        second = socket.create_connection(running.address, timeout=10)
        threading.Timer(0.5, first.close).start()  # the first sender leaves
        second.sendall(START_BLOCK + b"MSH|^~\\&|LAB|||||||X|P|2.5.1" + END_BLOCK)
        answer = second.recv(4096)
        second.close()
    assert b"MSA|AA|X" in answer


@pytest.mark.db
@pytest.mark.django_db(transaction=True)
def test_python_hl7s_own_mllp_client_is_answered_by_the_listener(listener, hematologist):
    """A third-party MLLP client (python-hl7's) sends a result and reads the ACK as it expects it."""
    import hl7.client

    order = given_order(completed_hours_ago=60, prescriber=hematologist, mrn="MLLP-PY")
    with hl7.client.MLLPClient(*listener.address) as client:
        ack = client.send_message(message(order, control_id="PY-1", label="24h", value=33))
    ack_text = ack.decode() if isinstance(ack, bytes) else str(ack)
    assert "MSA|AA|PY-1|" in ack_text
    assert PlateletCheck.objects.get(order=order, label="24h").platelet_count == 33


def test_a_refused_connection_that_had_sent_its_message_is_told_which_one_in_msa_2():
    with BackgroundListener("127.0.0.1", 0, max_connections=1, idle_timeout=30, busy_wait=0.5) as running:
        first = socket.create_connection(running.address, timeout=5)
        try:
            time.sleep(0.3)
            second = socket.create_connection(running.address, timeout=5)
            second.sendall(START_BLOCK + b"MSH|^~\\&|LAB|L|IVIG|H|20261124120000||ORU^R01|BUSY-7|P|2.5.1" + END_BLOCK)
            answer = second.recv(4096)
            second.close()
        finally:
            first.close()
    assert b"MSA|AR|BUSY-7|HL7 listener busy" in answer

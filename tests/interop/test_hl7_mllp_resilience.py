"""The MLLP listener under slow, idle and many senders, over real TCP on loopback: a message must arrive whole
within its deadline from its first byte, bytes that complete no message keep no connection open, and a hundred
senders at once each hear an acknowledgement (the service's, or the listener's busy AR) — none is closed without
a word."""

from __future__ import annotations

import socket
import threading
import time
from datetime import UTC, datetime

import pytest

from interop.hl7.mllp import END_BLOCK, START_BLOCK, BackgroundListener
from interop.models import HL7Message
from tests.interop.hl7_samples import hl7_time, sample

HEADER = "MSH|^~\\&|LAB|L|IVIG|H|20261124120000||ORU^R01|{control_id}|P|2.5.1\r"


def quick_ack(text: str) -> str:
    """A listener's handler that answers at once (these tests are about the transport, not the service)."""
    control_id = text.split("\r", 1)[0].split("|")[9]
    return f"MSH|^~\\&|IVIG|H|LAB|L|20261124120001||ACK|A-{control_id}|P|2.5.1\rMSA|AA|{control_id}\r"


def read_until_closed(sock: socket.socket, limit: float) -> tuple[bytes, float]:
    """Everything the listener sends until it closes the connection, and how long that took."""
    started = time.monotonic()
    received = b""
    sock.settimeout(limit)
    try:
        while chunk := sock.recv(4096):
            received += chunk
    except ConnectionResetError:
        pass
    return received, time.monotonic() - started


def trickle(sock: socket.socket, piece: bytes, every: float, stop: threading.Event) -> None:
    while not stop.wait(every):
        try:
            sock.sendall(piece)
        except OSError:
            return


def test_a_sender_trickling_a_message_is_refused_with_an_ar_naming_it_once_its_deadline_passes():
    with BackgroundListener("127.0.0.1", 0, idle_timeout=30, message_deadline=1.5, handle_message=quick_ack) as running:
        sender = socket.create_connection(running.address, timeout=5)
        sender.sendall(START_BLOCK + HEADER.format(control_id="SLOW-1").encode() + b"PID|")
        stop = threading.Event()
        threading.Thread(target=trickle, args=(sender, b"1", 0.2, stop), daemon=True).start()
        try:
            answer, took = read_until_closed(sender, limit=10)
        finally:
            stop.set()
            sender.close()

    assert answer.startswith(START_BLOCK) and answer.endswith(END_BLOCK)
    assert b"MSA|AR|SLOW-1|The message did not arrive whole within 1.5 s of its first byte" in answer
    assert 1.2 < took < 4  # the trickle, a byte every 0.2 s, did not extend it


def test_a_sender_trickling_bytes_without_a_message_header_is_closed_without_an_answer():
    with BackgroundListener("127.0.0.1", 0, idle_timeout=30, message_deadline=1.0, handle_message=quick_ack) as running:
        sender = socket.create_connection(running.address, timeout=5)
        sender.sendall(START_BLOCK + b"MS")
        stop = threading.Event()
        threading.Thread(target=trickle, args=(sender, b"x", 0.2, stop), daemon=True).start()
        try:
            answer, took = read_until_closed(sender, limit=10)
        finally:
            stop.set()
            sender.close()

    assert answer == b""
    assert 0.8 < took < 3.5


def test_bytes_outside_any_message_do_not_keep_an_idle_connection_open():
    with BackgroundListener("127.0.0.1", 0, idle_timeout=1.5, message_deadline=30, handle_message=quick_ack) as running:
        sender = socket.create_connection(running.address, timeout=5)
        stop = threading.Event()
        threading.Thread(target=trickle, args=(sender, b"\r\n", 0.2, stop), daemon=True).start()
        try:
            answer, took = read_until_closed(sender, limit=10)
        finally:
            stop.set()
            sender.close()

    assert answer == b""
    assert 1.2 < took < 4


def test_a_sender_whose_messages_each_arrive_in_time_stays_connected_past_the_deadline():
    answers = []
    with (
        BackgroundListener("127.0.0.1", 0, idle_timeout=30, message_deadline=1.0, handle_message=quick_ack) as running,
        socket.create_connection(running.address, timeout=5) as sender,
    ):
        for number in range(5):  # 5 messages over 3 s, each whole within 0.3 s of its first byte
            framed = START_BLOCK + HEADER.format(control_id=f"OK-{number}").encode() + END_BLOCK
            sender.sendall(framed[:20])
            time.sleep(0.3)
            sender.sendall(framed[20:])
            answer = b""
            while not answer.endswith(END_BLOCK):
                answer += sender.recv(4096)
            answers.append(answer)
            time.sleep(0.3)

    assert [b"MSA|AA|OK-%d" % number in answer for number, answer in enumerate(answers)] == [True] * 5


def send_and_read(address: tuple[str, int], text: str, outcomes: dict[str, bytes], start: threading.Barrier) -> None:
    """One sender: connect, send one framed message, read until the listener answers or closes."""
    control_id = text.split("\r", 1)[0].split("|")[9]
    start.wait()
    received = b""
    try:
        with socket.create_connection(address, timeout=60) as sender:
            sender.sendall(START_BLOCK + text.encode() + END_BLOCK)
            while not received.endswith(END_BLOCK):
                chunk = sender.recv(4096)
                if not chunk:
                    break
                received += chunk
    except OSError as exc:
        received += f"[{exc.__class__.__name__}]".encode()
    outcomes[control_id] = received


def hundred_senders_at_once(address: tuple[str, int], messages: list[str]) -> dict[str, bytes]:
    outcomes: dict[str, bytes] = {}
    start = threading.Barrier(len(messages))
    threads = [threading.Thread(target=send_and_read, args=(address, text, outcomes, start)) for text in messages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_a_hundred_senders_at_once_beyond_a_small_limit_each_hear_an_ack_or_the_busy_ar_naming_their_message():
    def slow_ack(text: str) -> str:
        time.sleep(0.2)  # a slot stays taken while the message is handled
        return quick_ack(text)

    messages = [HEADER.format(control_id=f"C-{number}") for number in range(100)]
    with BackgroundListener(
        "127.0.0.1", 0, max_connections=4, busy_wait=1.0, idle_timeout=30, handle_message=slow_ack
    ) as running:
        outcomes = hundred_senders_at_once(running.address, messages)

    assert len(outcomes) == 100
    accepted = [cid for cid, answer in outcomes.items() if f"MSA|AA|{cid}\r".encode() in answer]
    busy = [cid for cid, answer in outcomes.items() if f"MSA|AR|{cid}|HL7 listener busy".encode() in answer]
    silent = {cid: answer for cid, answer in outcomes.items() if cid not in accepted and cid not in busy}
    assert silent == {}
    assert accepted and busy  # four slots and one second of waiting cannot serve a hundred 0.2 s messages


@pytest.mark.db
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_hundred_senders_at_once_are_each_answered_by_the_service_within_the_default_limits():
    collected = hl7_time(datetime(2026, 11, 24, 8, 0, tzinfo=UTC))
    messages = [
        sample(
            "beaker_777_3_si_units.hl7",
            control_id=f"MANY-{number}",
            mrn=f"NOT-ADMITTED-{number}",
            filler=f"MANY-{number}-sample",
            collected=collected,
            status="F",
            value=50,
        )
        for number in range(100)
    ]
    with BackgroundListener("127.0.0.1", 0, idle_timeout=30) as running:  # 16 at once, 30 s of waiting
        outcomes = hundred_senders_at_once(running.address, messages)

    assert len(outcomes) == 100
    unanswered = {
        cid: answer
        for cid, answer in outcomes.items()
        if not (answer.endswith(END_BLOCK) and f"|{cid}|".encode() in answer)
    }
    assert unanswered == {}
    assert not [cid for cid, answer in outcomes.items() if b"HL7 listener busy" in answer]
    assert HL7Message.objects.count() == 100  # each message kept, with the reason it was not recorded

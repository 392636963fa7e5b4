"""MLLP (HL7's Minimal Lower Layer Protocol) over TCP: each message is framed ``<VT> message <FS><CR>`` and
answered with its ACK, framed the same way, on the same connection.

The server is threaded: one thread per connection (``max_connections`` served at once; up to ``max_waiting`` more
wait in their own threads for a free one, then are refused with a framed AR; beyond those, refused at once), each
handing message after message (or batch) to ``interop.hl7.services.receive`` and closing its database
connection when it ends. A connection is closed after ``idle_timeout`` seconds without a message, and a message
must arrive whole within ``message_deadline`` seconds of its first byte (a sender trickling bytes cannot hold a
connection: it hears an AR when its header named the message, else is closed). ``BackgroundListener.stop()``
finishes the message in hand, closes every connection and returns within about a second plus that message.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import close_old_connections, connections

logger = logging.getLogger(__name__)

START_BLOCK = b"\x0b"  # VT
END_BLOCK = b"\x1c\x0d"  # FS CR
FILE_SEPARATOR = b"\x1c"  # FS: some devices end the block with it alone, without the CR
MAX_MESSAGE_BYTES = 1024 * 1024  # a platelet result is a few hundred bytes; a megabyte is a broken sender
POLL_SECONDS = 0.5  # how often an idle connection looks at the stop flag


class FrameTooLarge(Exception):
    pass


def frame(text: str) -> bytes:
    return START_BLOCK + text.encode("utf-8") + END_BLOCK


# MSH-18 (character set, HL7 table 0211) values naming the encodings laboratories use.
LATIN_1_CHARSETS = frozenset({"8859/1", "8859", "ISO-8859-1", "ISO IR100", "ISO_IR 100"})
UTF_8_CHARSETS = frozenset({"UNICODE UTF-8", "UTF-8", "UTF8", "ISO_IR 192"})


def declared_charset(payload: bytes) -> str | None:
    """The character set MSH-18 declares ("latin-1" or "utf-8"), read from the first segment's bytes (its
    delimiters are ASCII whatever the encoding), or None when it declares none we know."""
    start = payload.find(b"MSH")
    if start < 0 or len(payload) < start + 4:
        return None
    header = payload[start:].split(b"\r", 1)[0].split(b"\n", 1)[0]
    separator = header[3:4]
    if not separator or separator.isalnum() or separator.isspace():
        return None  # not a readable MSH: the parser refuses it with AR
    fields = header.split(separator)
    if len(fields) <= 17:
        return None
    value = fields[17].split(b"^")[0].decode("ascii", "replace").strip().upper()
    if value in LATIN_1_CHARSETS:
        return "latin-1"
    if value in UTF_8_CHARSETS:
        return "utf-8"
    return None


def decode(payload: bytes) -> str:
    """As MSH-18 declares (ISO 8859-1 or UTF-8); with no declaration UTF-8 (HL7's preferred character set), else
    ISO 8859-1, which older lab systems send and which decodes any byte. A UTF-8 byte order mark is dropped; the
    message is stored as received either way."""
    if payload.startswith(b"\xef\xbb\xbf"):
        payload = payload[3:]
    charset = declared_charset(payload)
    if charset == "latin-1":
        return payload.decode("latin-1")
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        return payload.decode("latin-1")


class FrameReader:
    """Collects bytes from the socket and yields complete messages. Bytes outside a block are discarded."""

    def __init__(self, max_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.buffer = bytearray()
        self.max_bytes = max_bytes

    def feed(self, data: bytes) -> list[bytes]:
        self.buffer += data
        messages = []
        while True:
            start = self.buffer.find(START_BLOCK)
            if start < 0:
                self.buffer.clear()
                break
            # The block ends at FS; the CR that should follow it is taken when present (a CR that arrives later is
            # outside any block and dropped), so a device that ends with FS alone is answered too.
            end = self.buffer.find(FILE_SEPARATOR, start + 1)
            if end < 0:
                del self.buffer[:start]
                if len(self.buffer) > self.max_bytes:
                    raise FrameTooLarge(f"no end of block after {len(self.buffer)} bytes")
                break
            messages.append(bytes(self.buffer[start + 1 : end]))
            del self.buffer[: end + (len(END_BLOCK) if self.buffer[end : end + 2] == END_BLOCK else 1)]
        return messages


def receive_with_fresh_connection(text: str) -> str:
    """The default message handler: the same service as the HTTP endpoint, with Django's per-request
    database connection hygiene around it (the listener lives for weeks; a connection may have gone stale)."""
    from interop.hl7.services import receive
    from interop.models import HL7Message

    close_old_connections()
    try:
        return receive(text, transport=HL7Message.Transport.MLLP).text
    finally:
        close_old_connections()


def listener_refusal(text: str, control_id: str = "") -> str:
    """An AR the listener itself sends, built as every ACK is (``parse.build_ack``), naming in MSA-2 the message it
    answers when it read one."""
    from datetime import UTC, datetime

    from interop.hl7 import parse

    header = parse.Header(control_id, "", "", "", "", "", "", "P", "2.5.1")
    return parse.build_ack(
        ack_code=parse.REJECT, header=header, ack_control_id="IVIG0", text=text, error=None, now=datetime.now(UTC)
    )


def unhandled_ack() -> str:
    return listener_refusal("The message could not be handled (internal error); it was not recorded: send it again.")


def control_id_of(text: str) -> str:
    """MSH-10 of a message's text, read without parsing the rest ("" when there is none)."""
    header = text.lstrip("\ufeff").replace("\n", "\r").split("\r", 1)[0]
    if not header.startswith("MSH") or len(header) < 4:
        return ""
    fields = header.split(header[3])
    return fields[9].replace("|", "").replace("\r", "")[:199] if len(fields) > 9 else ""


def busy_ack(max_connections: int, waited: float, control_id: str = "") -> str:
    """What a connection beyond the listener's limit receives before it is closed: an AR naming the message it had
    sent (MSA-2) when one arrived, so an interface engine logs the reason and retries it."""
    return listener_refusal(
        f"HL7 listener busy: {max_connections} connections open and none freed in {waited:g} s; send again later.",
        control_id,
    )


def unfinished_message_ack(deadline: float, control_id: str) -> str:
    """What a sender hears when its message did not arrive whole within the deadline from its first byte."""
    return listener_refusal(
        f"The message did not arrive whole within {deadline:g} s of its first byte; it was not recorded: send it "
        "again.",
        control_id,
    )


def header_control_id(partial: bytes) -> str | None:
    """MSH-10 of a message still arriving, once its whole header segment has arrived; None before that (a
    control id cut short would name another message)."""
    text = decode(partial)
    start = text.find("MSH")
    if start < 0 or not any(end in text[start:] for end in ("\r", "\n")):
        return None
    return control_id_of(text[start:])


def close_after_answer(sock: socket.socket, linger: float) -> None:
    """Close once the peer has had the chance to read what was sent: the write side first, then what the peer
    still sends is read and dropped for up to ``linger`` seconds. Closing with unread bytes sends a reset, and a
    reset can discard an AR the peer has not read yet."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + linger
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(min(left, POLL_SECONDS))
            try:
                if not sock.recv(65536):
                    break
            except TimeoutError:
                continue
    with contextlib.suppress(OSError):
        sock.close()


class _ConnectionHandler(socketserver.BaseRequestHandler):
    server: MLLPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(POLL_SECONDS)
        reader = FrameReader(self.server.max_message_bytes)
        # Two clocks. Idle: since the connection opened or its last message was answered, while no message is
        # arriving; bytes that complete no message do not reset it (a sender trickling a byte a minute is not
        # "active"). Deadline: a message must arrive whole within message_deadline seconds of its first byte.
        idle_since = time.monotonic()
        message_started: float | None = None
        while not self.server.stopping.is_set():
            now = time.monotonic()
            if message_started is not None and now - message_started >= self.server.message_deadline:
                self._refuse_unfinished(sock, bytes(reader.buffer[1:]))
                return
            if message_started is None and now - idle_since >= self.server.idle_timeout:
                logger.info("HL7 connection from %s idle for %ss: closing", self.client_address, now - idle_since)
                return
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not chunk:
                return
            try:
                payloads = reader.feed(chunk)
            except FrameTooLarge as exc:
                logger.warning("HL7 connection from %s: %s; closing", self.client_address, exc)
                return
            for payload in payloads:
                try:
                    ack = self.server.handle_message(decode(payload))
                except Exception:  # never a dead connection without an answer: the sender gets an AR and may resend
                    logger.exception("HL7 connection from %s: the message could not be handled", self.client_address)
                    ack = unhandled_ack()
                try:
                    sock.sendall(frame(ack))
                except OSError:
                    return
            if payloads:
                idle_since, message_started = time.monotonic(), None
            if not reader.buffer:
                message_started = None
            elif message_started is None:
                message_started = time.monotonic()

    def _refuse_unfinished(self, sock: socket.socket, partial: bytes) -> None:
        control_id = header_control_id(partial)
        if control_id is None:
            # Nothing names a message: there is nothing an acknowledgement could refer to.
            logger.warning(
                "HL7 connection from %s: no message header within %ss of its first byte; closing",
                self.client_address,
                self.server.message_deadline,
            )
            return
        logger.warning(
            "HL7 connection from %s: message %r not whole within %ss; refused",
            self.client_address,
            control_id,
            self.server.message_deadline,
        )
        with contextlib.suppress(OSError):
            sock.sendall(frame(unfinished_message_ack(self.server.message_deadline, control_id)))
        close_after_answer(sock, linger=POLL_SECONDS * 2)


class MLLPServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = False  # server_close() waits for the connection threads: a clean stop
    block_on_close = True
    # The kernel's queue of connections not yet accepted: the accept loop never waits, so this only absorbs a
    # burst between two accepts (the kernel caps it at net.core.somaxconn).
    request_queue_size = 256

    def __init__(
        self,
        address: tuple[str, int],
        *,
        handle_message: Callable[[str], str] = receive_with_fresh_connection,
        max_connections: int = 16,
        max_waiting: int = 256,
        idle_timeout: float = 300.0,
        message_deadline: float = 60.0,
        busy_wait: float = 30.0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
    ) -> None:
        self.handle_message = handle_message
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.message_deadline = message_deadline
        self.busy_wait = busy_wait
        self.max_message_bytes = max_message_bytes
        self.stopping = threading.Event()
        self.slots = threading.BoundedSemaphore(max_connections)
        # Connections served plus those waiting for a slot, each a thread: beyond it, refused at once.
        self.admitted = threading.BoundedSemaphore(max_connections + max_waiting)
        super().__init__(address, _ConnectionHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def process_request(self, request: Any, client_address: Any) -> None:
        # The accept loop never waits: a connection waits for a slot in its own thread, so every other connection
        # is accepted meanwhile and each hears an ACK or the busy AR (a kernel queue overflowing under a burst
        # closes connections without a word). Only beyond the waiting room is one refused on the spot.
        if not self.admitted.acquire(blocking=False):
            logger.warning("HL7: %s connections open or waiting, refusing %s", self.max_connections, client_address)
            self._refuse_busy(request, read_seconds=0.0, linger=0.0)
            return
        try:
            super().process_request(request, client_address)
        except Exception:
            self.admitted.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if not self._wait_for_slot():
                logger.warning("HL7: %s connections open, refusing %s", self.max_connections, client_address)
                self._refuse_busy(request, read_seconds=POLL_SECONDS * 4, linger=POLL_SECONDS * 2)
                return
            try:
                super().process_request_thread(request, client_address)
            finally:
                connections.close_all()  # this thread's database connections
                self.slots.release()
        finally:
            self.admitted.release()

    def _wait_for_slot(self) -> bool:
        """A slot within ``busy_wait`` seconds (False when none freed, or the listener is stopping)."""
        deadline = time.monotonic() + self.busy_wait
        while not self.slots.acquire(timeout=POLL_SECONDS):
            if time.monotonic() >= deadline or self.stopping.is_set():
                return False
        return True

    def _refuse_busy(self, request: socket.socket, *, read_seconds: float, linger: float) -> None:
        # A sender usually writes its message at once: read it briefly, so the refusal names it in MSA-2.
        control_id = ""
        try:
            if read_seconds > 0:
                request.settimeout(read_seconds)
                data = request.recv(65536)
            else:
                data = request.recv(65536, socket.MSG_DONTWAIT)  # only what has already arrived
            payloads = FrameReader(self.max_message_bytes).feed(data)
            control_id = control_id_of(decode(payloads[0])) if payloads else ""
        except (OSError, FrameTooLarge):
            pass
        with contextlib.suppress(OSError):
            request.settimeout(POLL_SECONDS * 2)
            request.sendall(frame(busy_ack(self.max_connections, self.busy_wait, control_id)))
        close_after_answer(request, linger)


class BackgroundListener:
    """An MLLP server accepting in a background thread (the management command and the tests)."""

    def __init__(self, host: str, port: int, **options: Any) -> None:
        self.server = MLLPServer((host, port), **options)
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": POLL_SECONDS}, name="hl7-mllp", daemon=True
        )

    @property
    def address(self) -> tuple[str, int]:
        return str(self.server.server_address[0]), self.server.port

    def start(self) -> BackgroundListener:
        self.thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, let each connection finish the message in hand, close everything."""
        self.server.stopping.set()
        if self.thread.is_alive():
            self.server.shutdown()  # returns once serve_forever has left its loop
        self.server.server_close()  # joins the connection threads (they see ``stopping`` within POLL_SECONDS)
        self.thread.join(timeout=10)

    def __enter__(self) -> BackgroundListener:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


class MLLPClient:
    """Sends messages and waits for each ACK (tests, the benchmark, scripts)."""

    def __init__(self, host: str, port: int, *, timeout: float = 30.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.reader = FrameReader()
        self.pending: list[bytes] = []

    def send(self, text: str) -> str:
        self.sock.sendall(frame(text))
        while not self.pending:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection before acknowledging")
            self.pending.extend(self.reader.feed(chunk))
        return decode(self.pending.pop(0))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> MLLPClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

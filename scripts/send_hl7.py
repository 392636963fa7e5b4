#!/usr/bin/env python3
"""Send a laboratory platelet result to IVIG Tracker as an HL7 v2 ORU^R01 message and print the ACK.

Standard library only: run it from any machine that can reach the listener.

    # over MLLP to the listener that `make run` starts (127.0.0.1:2575)
    python scripts/send_hl7.py --mrn MRN0001 --count 85

    # a count in cells per microlitre, collected at a given time, as a preliminary result
    python scripts/send_hl7.py --mrn MRN0001 --count 150000 --unit /uL --collected 20261124083000+0100 --status P

    # over HTTP with an API token (POST /api/v1/hl7/oru/)
    python scripts/send_hl7.py --mrn MRN0001 --count 85 --http http://127.0.0.1:8000 --token 0123abcd...

    # a message file written by a lab system (LF or CR line ends), as it is
    python scripts/send_hl7.py --file result.hl7

The exit status is 0 for AA, 1 for AE or AR, 2 when the message could not be delivered.
"""

from __future__ import annotations

import argparse
import socket
import sys
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime

VT, FS, CR = b"\x0b", b"\x1c", b"\x0d"


def build_message(args: argparse.Namespace) -> str:
    now = datetime.now(UTC)
    collected = args.collected or now.strftime("%Y%m%d%H%M%S+0000")
    control_id = args.control_id or f"SEND{uuid.uuid4().hex[:16].upper()}"
    specimen = args.specimen or f"{control_id}-S"
    segments = [
        f"MSH|^~\\&|SEND_HL7|LAB|IVIG_TRACKER|HOSPITAL|{now:%Y%m%d%H%M%S}+0000||ORU^R01^ORU_R01|{control_id}|P|2.5.1",
        f"PID|1||{args.mrn}^^^HOSPITAL^MR",
        f"OBR|1||{specimen}^SEND_HL7|57021-8^CBC panel^LN|||{collected}",
        f"OBX|1|NM|{args.code}^Platelets^LN||{args.count}|{args.unit}|150-400||||{args.status}|||{collected}",
    ]
    return "\r".join(segments) + "\r"


def send_mllp(message: str, host: str, port: int, timeout: float) -> str:
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(VT + message.encode("utf-8") + FS + CR)
        answer = b""
        while not answer.endswith(FS + CR):
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("the listener closed the connection without an ACK")
            answer += chunk
    return answer.strip(VT + FS + CR).decode("utf-8", "replace")


def send_http(message: str, base_url: str, token: str, timeout: float) -> str:
    request = urllib.request.Request(
        base_url.rstrip("/") + "/api/v1/hl7/oru/",
        data=message.encode("utf-8"),
        headers={"Content-Type": "text/plain; charset=utf-8", "Authorization": f"Token {token}"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - the user's own URL
        return response.read().decode("utf-8", "replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--mrn", help="the patient's MRN (PID-3)")
    parser.add_argument("--count", help="the platelet count as the lab reports it (OBX-5)")
    parser.add_argument("--unit", default="10*9/L", help="OBX-6: 10*9/L (default), 10*3/uL, K/uL, /uL or /mm3")
    parser.add_argument("--code", default="777-3", help="OBX-3 code: LOINC 777-3 (default), 26515-7 or a local code")
    parser.add_argument("--status", default="F", help="OBX-11: F final (default), P preliminary, C correction, X")
    parser.add_argument("--collected", help="collection time, YYYYMMDDHHMM[SS][+/-ZZZZ] (default: now, UTC)")
    parser.add_argument("--control-id", help="MSH-10 (default: a new random one; reuse it to test a resend)")
    parser.add_argument("--specimen", help="OBR-3 sample number (reuse it with --status C to correct a result)")
    parser.add_argument("--file", help="send this message file instead of building one")
    parser.add_argument("--host", default="127.0.0.1", help="MLLP listener host (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=2575, help="MLLP listener port (default 2575)")
    parser.add_argument("--http", metavar="BASE_URL", help="send over HTTP to BASE_URL instead of MLLP")
    parser.add_argument("--token", help="API token for --http (an account allowed to record platelet results)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for the ACK (default 30)")
    args = parser.parse_args(argv)
    if args.file:
        with open(args.file, encoding="utf-8") as handle:
            message = handle.read().replace("\r\n", "\r").replace("\n", "\r")
    elif args.mrn and args.count:
        message = build_message(args)
    else:
        parser.error("give --mrn and --count, or --file")
    if args.http and not args.token:
        parser.error("--http needs --token")
    try:
        if args.http:
            ack = send_http(message, args.http, args.token, args.timeout)
        else:
            ack = send_mllp(message, args.host, args.port, args.timeout)
    except (OSError, urllib.error.URLError) as exc:
        print(f"could not deliver the message: {exc}", file=sys.stderr)
        return 2
    print(ack.replace("\r", "\n").strip())
    msa = next((line.split("|") for line in ack.split("\r") if line.startswith("MSA|")), ["MSA", "??"])
    return 0 if msa[1] == "AA" else 1


if __name__ == "__main__":
    sys.exit(main())

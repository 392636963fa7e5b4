"""The front-end files vendored from npm (scripts/vendor_js.py) are exactly what their record says: the version
and licence a reviewer reads in VENDORED.json are those of the bytes served or run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RECORDS = sorted([*ROOT.glob("static/vendor/*/VENDORED.json"), *ROOT.glob("tests/browser/vendor/*/VENDORED.json")])


def test_the_camera_reader_and_the_accessibility_checker_are_vendored():
    assert {json.loads(record.read_text())["package"] for record in RECORDS} == {"@zxing/library", "axe-core"}


@pytest.mark.parametrize("record", RECORDS, ids=lambda path: path.parent.name)
def test_each_vendored_file_matches_its_record_and_ships_its_licence(record):
    entry = json.loads(record.read_text())
    assert entry["version"] and entry["licence"] and entry["integrity"].startswith("sha512-")
    assert "LICENSE" in entry["files"]
    for name, digest in entry["files"].items():
        assert hashlib.sha256((record.parent / name).read_bytes()).hexdigest() == digest, f"{name} was edited by hand"

"""Vendor the front-end code the app and its browser tests use from npm, each with its version and licence.

``make vendor-js`` runs this (it needs npm; nothing else does): each package is fetched with ``npm pack`` at the
pinned version, the files named below are copied out of it beside its licence, and ``VENDORED.json`` records the
package, version, licence, the registry's integrity hash and each file's SHA-256. The copies are committed, so a
newcomer needs no Node and the app needs no CDN; a test checks the files still match their record.

To upgrade: change a version here, run ``make vendor-js``, run the browser tests, commit the result.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# package, version, {file in the package: name here}, licence files, folder here
PACKAGES = [
    # Reads GS1 DataMatrix codes from the tablet's camera where the browser has no BarcodeDetector.
    ("@zxing/library", "0.23.0", {"umd/index.min.js": "zxing-library.min.js"}, ["LICENSE"], "static/vendor/zxing"),
    # Accessibility checks run inside the browser tests (never served by the app).
    (
        "axe-core",
        "4.11.0",
        {"axe.min.js": "axe.min.js"},
        ["LICENSE", "LICENSE-3RD-PARTY.txt"],
        "tests/browser/vendor/axe-core",
    ),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def vendor(package: str, version: str, files: dict[str, str], licences: list[str], folder: str, work: Path) -> None:
    packed = subprocess.run(
        ["npm", "pack", "--json", "--silent", f"{package}@{version}"],
        cwd=work,
        check=True,
        capture_output=True,
        text=True,
    )
    info = json.loads(packed.stdout)[0]
    with tarfile.open(work / info["filename"]) as tarball:
        tarball.extractall(work / "unpacked" / package, filter="data")
    source = work / "unpacked" / package / "package"
    metadata = json.loads((source / "package.json").read_text())
    target = ROOT / folder
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for inside, name in {**files, **{licence: licence for licence in licences}}.items():
        shutil.copyfile(source / inside, target / name)
    record = {
        "package": package,
        "version": metadata["version"],
        "licence": metadata.get("license", ""),
        "homepage": metadata.get("homepage", ""),
        "integrity": info["integrity"],
        "files": {name: sha256(target / name) for name in sorted([*files.values(), *licences])},
    }
    (target / "VENDORED.json").write_text(json.dumps(record, indent=2) + "\n")
    print(f"{package}@{metadata['version']} ({record['licence']}) -> {folder}")


def main() -> int:
    if shutil.which("npm") is None:
        print("npm is needed to re-vendor the front-end files (the committed copies need nothing).", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as work:
        for package in PACKAGES:
            vendor(*package, work=Path(work))
    return 0


if __name__ == "__main__":
    sys.exit(main())

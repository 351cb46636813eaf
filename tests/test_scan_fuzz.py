"""Robustness: mutated and truncated inputs never crash the scanner (an internal error would read as incomplete)."""

from __future__ import annotations

import io
import json
import pickle
import random
import struct
import zipfile

import pytest

from auditor.errors import PolicyError
from auditor.scan import scan_path


def _seeds() -> list[bytes]:
    pk = pickle.dumps({"w": [1.5, 2, "abc" * 10], "t": (1, (2, 3)), "b": b"\x80\x04xyz" * 5}, protocol=4)
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as f:
        f.writestr("archive/data.pkl", pk)
        f.writestr("archive/version", "3\n")
    hdr = json.dumps({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    st = struct.pack("<Q", len(hdr)) + hdr + bytes(8)
    npy = b"\x93NUMPY\x01\x00\x76\x00" + b"{'descr': '|O', 'fortran_order': False, 'shape': (1,), }".ljust(117) + b"\n" + pk
    return [pk, pickle.dumps([1, "x"], protocol=0), z.getvalue(), st, npy, b"GGUF" + struct.pack("<IQQ", 3, 0, 0)]


@pytest.mark.parametrize("seed_index", range(6))
def test_mutations_never_crash(tmp_path, seed_index):
    rng = random.Random(seed_index)
    base = _seeds()[seed_index]
    p = tmp_path / "f.bin"
    for _ in range(60):
        data = bytearray(base)
        for _ in range(rng.randint(1, 4)):
            if len(data) < 2:
                break
            op = rng.random()
            pos = rng.randrange(len(data))
            if op < 0.5:
                data[pos] = rng.randrange(256)
            elif op < 0.75:
                del data[pos:pos + rng.randint(1, 8)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        if len(data) > 1 and rng.random() < 0.2:
            data = data[: rng.randrange(1, len(data) + 1)]
        p.write_bytes(bytes(data))
        r = scan_path(p)
        assert not [e for e in r.errors if "internal error" in e], (bytes(data)[:80], r.errors)


def test_bad_settings_are_policy_errors(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    for bad in ({"limits": {"max_filez": 1}}, {"limits": {"max_files": "many"}}, {"allow_imports": "os.system"}):
        with pytest.raises(PolicyError):
            scan_path(tmp_path, bad)


def test_generic_archives_are_noted(tmp_path):
    z = io.BytesIO()
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("notes.txt", "hello")
    (tmp_path / "bundle.zip").write_bytes(z.getvalue())
    r = scan_path(tmp_path / "bundle.zip")
    assert [(f.rule, f.severity) for f in r.findings] == [("hygiene.archive", "low")]

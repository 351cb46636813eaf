"""safetensors: header validated without loading tensors; every malformation is a finding and an incomplete audit."""

from __future__ import annotations

import json
import struct

import pytest

from auditor.scan import scan_path

EVIL = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def st(header, data: bytes = b"", raw_header: bytes | None = None, length: int | None = None) -> bytes:
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + data


GOOD = {"__metadata__": {"format": "pt"}, "a": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]},
        "b": {"dtype": "BF16", "shape": [3], "data_offsets": [16, 22]}}


def test_valid_file_is_clean(tmp_path):
    p = tmp_path / "model.safetensors"
    p.write_bytes(st(GOOD, bytes(22)))
    r = scan_path(p)
    assert r.findings == [] and not r.errors
    assert r.files[0].to_dict()["tensors"] == 2


def test_library_written_file_is_clean(tmp_path):
    np = pytest.importorskip("numpy")
    from safetensors.numpy import save_file

    save_file({"w": np.ones((3, 5), dtype=np.float16), "e": np.zeros((0, 4), dtype=np.int64)}, tmp_path / "m.safetensors",
              metadata={"format": "np"})
    r = scan_path(tmp_path / "m.safetensors")
    assert r.findings == [] and not r.errors


MALFORMED = {
    "length beyond file": lambda: st(GOOD, bytes(22), length=10_000),
    "length beyond limit": lambda: struct.pack("<Q", 1 << 40) + b"{}" + bytes(64),
    "not utf-8": lambda: st(None, b"", raw_header=b'{"a\xff": 1}'),
    "not json": lambda: st(None, b"", raw_header=b"{not json}"),
    "not an object": lambda: st(None, b"", raw_header=b"[1, 2]"),
    "duplicate key": lambda: st(None, bytes(4), raw_header=b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},'
                                                           b' "a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}'),
    "unknown dtype": lambda: st({"a": {"dtype": "F33", "shape": [1], "data_offsets": [0, 4]}}, bytes(4)),
    "bad shape": lambda: st({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4)),
    "size mismatch": lambda: st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(4)),
    "overlap": lambda: st({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                           "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)),
    "gap": lambda: st({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, bytes(8)),
    "past end": lambda: st({"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, bytes(8)),
    "metadata not string": lambda: st({"__metadata__": {"n": 3}, "a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"x"),
    "extra field": lambda: st({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1], "x": 1}}, b"x"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_each_malformation(tmp_path, case):
    p = tmp_path / "bad.safetensors"
    p.write_bytes(MALFORMED[case]())
    r = scan_path(p)
    assert r.errors and "bad.safetensors" in r.errors[0] and "malformed safetensors" in r.errors[0], (case, r.errors)
    assert any(f.rule == "safetensors.malformed" and f.severity == "high" for f in r.findings)


def test_trailing_pickle_is_found_and_scanned(tmp_path):
    p = tmp_path / "model.safetensors"
    p.write_bytes(st(GOOD, bytes(22)) + EVIL)
    r = scan_path(p)
    rules = {(f.rule, f.severity) for f in r.findings}
    assert ("safetensors.trailing_data", "high") in rules
    hit = [f for f in r.findings if f.rule == "pickle.dangerous_import"][0]
    assert hit.evidence["offset"] == 8 + len(json.dumps(GOOD)) + 22 + 2
    assert r.errors  # structurally invalid: audit incomplete


def test_code_in_metadata(tmp_path):
    meta = {"a": "import os; os.system('id')", "b": "exec(base64.b64decode('aW1wb3J0IG9z'))", "c": "see https://evil.example/x",
            "d": "plain description of the model"}
    p = tmp_path / "m.safetensors"
    p.write_bytes(st({"__metadata__": meta, "t": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}, b"x"))
    r = scan_path(p)
    keys = {(f.rule, f.evidence.get("key")) for f in r.findings}
    assert ("safetensors.metadata_code", "a") in keys and ("safetensors.metadata_code", "b") in keys
    assert ("safetensors.metadata_url", "c") in keys
    assert not any(k == "d" for _, k in keys)
    assert not r.errors

"""NumPy .npy/.npz: headers parsed safely; object arrays are pickles and get walked after the header."""

from __future__ import annotations

import io
import zipfile

import pytest

from auditor.scan import scan_path

np = pytest.importorskip("numpy")

EVIL = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def _npy_header(descr: str, shape: tuple) -> bytes:
    d = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    pad = 64 - (10 + len(d) + 1) % 64
    h = d + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(h).to_bytes(2, "little") + h


def test_plain_arrays_are_clean(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(12, dtype=np.int32).reshape(3, 4), allow_pickle=False)
    np.save(tmp_path / "u.npy", np.array(["ab", "c"]), allow_pickle=False)
    np.savez_compressed(tmp_path / "z.npz", a=np.ones(3), b=np.zeros((2, 2)))
    for name in ("a.npy", "u.npy", "z.npz"):
        r = scan_path(tmp_path / name)
        assert r.findings == [] and not r.errors, name


def test_benign_object_array_is_low_only(tmp_path):
    np.save(tmp_path / "o.npy", np.array([{"a": 1}, [1, 2], "x"], dtype=object), allow_pickle=True)
    r = scan_path(tmp_path / "o.npy")
    assert [(f.rule, f.severity) for f in r.findings] == [("numpy.object_array", "low")]
    assert r.files[0].format == "numpy_object"


def test_malicious_object_array(tmp_path):
    p = tmp_path / "evil.npy"
    header = _npy_header("|O", (1,))
    p.write_bytes(header + EVIL)
    r = scan_path(p)
    hit = [f for f in r.findings if f.rule == "pickle.dangerous_import"][0]
    assert hit.severity == "critical" and hit.evidence["offset"] == len(header) + 2


def test_malicious_npy_inside_npz(tmp_path):
    p = tmp_path / "weights.npz"
    with zipfile.ZipFile(p, "w", zipfile.ZIP_DEFLATED) as z:
        buf = io.BytesIO()
        np.save(buf, np.ones(4))
        z.writestr("ok.npy", buf.getvalue())
        z.writestr("evil.npy", _npy_header("|O", (1,)) + EVIL)
    r = scan_path(p)
    assert {f.file for f in r.findings if f.severity == "critical"} == {"weights.npz!evil.npy"}


def test_trailing_pickle_after_array_data(tmp_path):
    buf = io.BytesIO()
    np.save(buf, np.ones(4, dtype=np.float32))
    p = tmp_path / "t.npy"
    p.write_bytes(buf.getvalue() + EVIL)
    r = scan_path(p)
    rules = {f.rule for f in r.findings}
    assert {"numpy.trailing_data", "pickle.dangerous_import"} <= rules


def test_malformed_header_is_incomplete(tmp_path):
    p = tmp_path / "bad.npy"
    p.write_bytes(b"\x93NUMPY\x01\x00\x10\x00__import__('os')\n")
    r = scan_path(p)
    assert r.errors and any(f.rule == "numpy.malformed" for f in r.findings)

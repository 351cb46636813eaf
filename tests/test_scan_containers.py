"""Archives: zip tricks (slip, flag bypass, header mismatch), tar links, nesting, compression, 7z, limits."""

from __future__ import annotations

import gzip
import io
import tarfile
import zipfile

import pytest

from auditor.scan import scan_path

EVIL = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def _zip(entries: dict[str, bytes], method=zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _tar(entries: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as t:
        for name, data in entries.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            t.addfile(ti, io.BytesIO(data))
        for name, target in (links or {}).items():
            ti = tarfile.TarInfo(name)
            ti.type, ti.linkname = tarfile.SYMTYPE, target
            t.addfile(ti)
    return buf.getvalue()


def crit(r):
    return {f.file for f in r.findings if f.rule == "pickle.dangerous_import"}


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_zip_members_any_compression(tmp_path, method):
    p = tmp_path / "a.zip"
    p.write_bytes(_zip({"readme.txt": b"hello", "noext": EVIL}, method))
    assert crit(scan_path(p)) == {"a.zip!noext"}


def test_nested_zip_in_tar_gz(tmp_path):
    inner = _zip({"model/data.pkl": EVIL})
    p = tmp_path / "bundle.tar.gz"
    p.write_bytes(gzip.compress(_tar({"inner.zip": inner, "ok.txt": b"x"})))
    r = scan_path(p)
    assert crit(r) == {"bundle.tar.gz!bundle.tar!inner.zip!model/data.pkl"}


def test_zip_slip_and_tar_link_escape(tmp_path):
    (tmp_path / "s.zip").write_bytes(_zip({"../../etc/evil.txt": b"x", "/abs/path": b"y"}))
    r = scan_path(tmp_path / "s.zip")
    assert sorted(f.location for f in r.findings if f.rule == "archive.path_traversal") == ["../../etc/evil.txt", "/abs/path"]
    (tmp_path / "l.tar").write_bytes(_tar({"a": b"x"}, {"up": "../../../etc/passwd", "in": "a"}))
    r = scan_path(tmp_path / "l.tar")
    got = {(f.rule, f.severity) for f in r.findings}
    assert ("archive.link_escape", "high") in got and ("archive.link", "low") in got


def test_encryption_flag_bypass_and_header_mismatch(tmp_path):
    data = bytearray(_zip({"data.pkl": EVIL}))
    data[6] |= 0x01  # local header: "encrypted"
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 8] |= 0x01
    (tmp_path / "f.zip").write_bytes(bytes(data))
    r = scan_path(tmp_path / "f.zip")
    assert crit(r) == {"f.zip!data.pkl"}
    assert any(f.rule == "archive.encrypted_member" for f in r.findings)
    data = bytearray(_zip({"data.pkl": EVIL}))
    data[30:38] = b"datap.kl"  # local name differs from the central directory name
    (tmp_path / "m.zip").write_bytes(bytes(data))
    r = scan_path(tmp_path / "m.zip")
    assert any(f.rule == "archive.header_mismatch" for f in r.findings) and crit(r)


def test_broken_central_directory_falls_back_to_local_headers(tmp_path):
    data = _zip({"x.pkl": EVIL})
    (tmp_path / "b.zip").write_bytes(data[: data.rfind(b"PK\x01\x02")])
    r = scan_path(tmp_path / "b.zip")
    assert crit(r) and any(f.rule == "archive.malformed" for f in r.findings)


def test_single_stream_compressors(tmp_path):
    import bz2
    import lzma
    import zlib

    for name, data in {"a.pkl.gz": gzip.compress(EVIL), "a.pkl.bz2": bz2.compress(EVIL),
                       "a.pkl.xz": lzma.compress(EVIL), "a.z": zlib.compress(EVIL)}.items():
        (tmp_path / name).write_bytes(data)
        assert crit(scan_path(tmp_path / name)), name


def test_7z_is_scanned_when_py7zr_is_available(tmp_path):
    py7zr = pytest.importorskip("py7zr")
    p = tmp_path / "m.7z"
    with py7zr.SevenZipFile(p, "w") as z:
        z.writestr(EVIL, "model/data.pkl")
        z.writestr(b"hello", "readme.txt")
    assert crit(scan_path(p)) == {"m.7z!model/data.pkl"}


def test_nesting_depth_limit(tmp_path):
    data = EVIL
    for i in range(4):
        data = _zip({f"l{i}.bin": data})
    (tmp_path / "deep.zip").write_bytes(data)
    r = scan_path(tmp_path / "deep.zip", {"limits": {"max_nesting_depth": 2}})
    assert r.errors and "max_nesting_depth" in r.errors[0]
    assert crit(scan_path(tmp_path / "deep.zip"))


def test_decompression_and_member_limits(tmp_path):
    (tmp_path / "bomb.gz").write_bytes(gzip.compress(b"a" * (4 << 20)))
    r = scan_path(tmp_path / "bomb.gz", {"limits": {"max_decompressed_size": 1 << 20}})
    assert r.errors and "max_decompressed_size" in r.errors[0]
    (tmp_path / "many.zip").write_bytes(_zip({f"f{i}.txt": b"x" for i in range(20)}))
    r = scan_path(tmp_path / "many.zip", {"limits": {"max_members": 5}})
    assert r.errors and "max_members" in r.errors[0]

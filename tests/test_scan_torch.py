"""PyTorch checkpoints: real torch.save files are clean; malicious zip members and legacy pickles are caught."""

from __future__ import annotations

import pickle
import zipfile
from collections import OrderedDict

import pytest

from auditor.scan import scan_path

torch = pytest.importorskip("torch")

EVIL = b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def _state_dict():
    return OrderedDict(w=torch.randn(4, 3), b=torch.zeros(3, dtype=torch.int64), h=torch.ones(2, dtype=torch.bfloat16),
                       p=torch.nn.Parameter(torch.randn(2)))


@pytest.mark.parametrize("zip_format", [True, False])
def test_real_torch_save_is_clean(tmp_path, zip_format):
    p = tmp_path / "pytorch_model.bin"
    torch.save(_state_dict(), p, _use_new_zipfile_serialization=zip_format)
    r = scan_path(p)
    assert r.findings == [] and not r.errors
    info = r.files[-1].to_dict()
    assert info["format"] == ("torch_zip" if zip_format else "torch_legacy")
    assert info["storages"] == 4


def test_full_module_pickle_is_review_only(tmp_path):
    p = tmp_path / "model.pt"
    torch.save(torch.nn.Linear(2, 2), p)
    r = scan_path(p)
    assert r.findings and all(f.severity in ("low",) for f in r.findings)
    assert {f.rule for f in r.findings} == {"pickle.review_import"}


@pytest.mark.parametrize("member", ["archive/data/evil", "archive/.hidden", "archive/weird name with spaces",
                                    "archive/data.pkl.bak", "archive/constants"])
def test_every_zip_member_is_scanned_by_content(tmp_path, member):
    good = tmp_path / "good.pt"
    torch.save(_state_dict(), good)
    bad = tmp_path / "bad.pt"
    with zipfile.ZipFile(good) as zin, zipfile.ZipFile(bad, "w") as zout:
        for zi in zin.infolist():
            zout.writestr(zi, zin.read(zi))
        zout.writestr(member, EVIL)
    r = scan_path(bad)
    hits = [f for f in r.findings if f.rule == "pickle.dangerous_import"]
    assert hits and hits[0].file == f"bad.pt!{member}" and hits[0].evidence["resolves_to"] == "os.system"


def test_malicious_data_pkl_in_torch_zip(tmp_path):
    p = tmp_path / "model.pt"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("model/data.pkl", EVIL)
        z.writestr("model/version", "3\n")
    r = scan_path(p)
    assert r.max_severity() == "critical"


def _legacy(main: bytes, keys: list[str], storages: bytes = b"") -> bytes:
    magic = pickle.dumps(0x1950A86A20F9469CFC6C, protocol=2)
    return magic + pickle.dumps(1001, protocol=2) + pickle.dumps({"protocol_version": 1001}, protocol=2) + main \
        + pickle.dumps(keys, protocol=2) + storages


def test_legacy_format_with_malicious_main_pickle(tmp_path):
    p = tmp_path / "legacy.bin"
    p.write_bytes(_legacy(EVIL, []))
    r = scan_path(p)
    assert r.files[-1].format == "torch_legacy"
    assert any(f.rule == "pickle.dangerous_import" and f.severity == "critical" for f in r.findings)


def test_legacy_trailing_bytes_after_storages(tmp_path):
    p = tmp_path / "legacy.pt"
    torch.save(_state_dict(), p, _use_new_zipfile_serialization=False)
    p.write_bytes(p.read_bytes() + b"hidden stuff")
    r = scan_path(p)
    assert [f.rule for f in r.findings] == ["torch.legacy_trailing_data"]

"""Other formats: Keras (.keras zip, HDF5 attributes), ONNX external data and custom ops, GGUF sanity."""

from __future__ import annotations

import io
import json
import struct
import zipfile

from auditor.scan import scan_path

LAMBDA_CFG = {"class_name": "Sequential", "config": {"name": "m", "layers": [
    {"class_name": "Dense", "config": {"name": "d", "units": 2}},
    {"module": "keras.layers", "class_name": "Lambda", "config": {"name": "lam", "function": {"class_name": "__lambda__",
                                                                                             "config": {"code": "4wEAAAAA"}}}},
    {"module": "evil_pkg.layers", "class_name": "Backdoor", "config": {"name": "b"}}]}}


def test_keras_v3_zip_with_lambda_and_custom_object(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("metadata.json", json.dumps({"keras_version": "3.4.1"}))
        z.writestr("config.json", json.dumps(LAMBDA_CFG))
    (tmp_path / "m.keras").write_bytes(buf.getvalue())
    r = scan_path(tmp_path / "m.keras")
    got = {(f.rule, f.severity) for f in r.findings}
    assert ("keras.lambda_layer", "critical") in got and ("keras.custom_object", "medium") in got
    assert r.files[-1].format == "keras_v3"


def test_hdf5_model_config_attribute(tmp_path):
    def h5(cfg):
        return b"\x89HDF\r\n\x1a\n" + bytes(200) + b"model_config\x00" + json.dumps(cfg).encode() + b"\x00" + bytes(300)

    (tmp_path / "bad.h5").write_bytes(h5({"class_name": "Sequential", "config": {"layers": [
        {"class_name": "Lambda", "config": {"name": "l", "function": "lambda x: eval('1')"}}]}}))
    (tmp_path / "ok.h5").write_bytes(h5({"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {}}]}}))
    assert {f.rule for f in scan_path(tmp_path / "bad.h5").findings} == {"keras.lambda_layer"}
    assert scan_path(tmp_path / "ok.h5").findings == []


def _pb_field(num: int, payload: bytes) -> bytes:
    def varint(v):
        out = b""
        while True:
            b = v & 0x7F
            v >>= 7
            out += bytes([b | (0x80 if v else 0)])
            if not v:
                return out
    return varint(num << 3 | 2) + varint(len(payload)) + payload


def _onnx(location: str, domain: str = "") -> bytes:
    ext = _pb_field(13, _pb_field(1, b"location") + _pb_field(2, location.encode()))
    tensor = _pb_field(8, b"w") + ext
    node = _pb_field(4, b"MyOp") + (_pb_field(7, domain.encode()) if domain else b"")
    graph = _pb_field(1, node) + _pb_field(5, tensor)
    return b"\x08\x08" + _pb_field(2, b"pytorch") + _pb_field(7, graph)


def test_onnx_external_data_traversal_and_custom_domain(tmp_path):
    (tmp_path / "model.onnx").write_bytes(_onnx("../../../etc/passwd", "com.evil"))
    r = scan_path(tmp_path / "model.onnx")
    got = {(f.rule, f.severity) for f in r.findings}
    assert got == {("onnx.external_data_traversal", "high"), ("onnx.custom_op_domain", "medium")}


def test_onnx_relative_external_data_is_not_unknown(tmp_path):
    (tmp_path / "README.md").write_text("---\nlicense: mit\n---\n")
    (tmp_path / "model.onnx").write_bytes(_onnx("model.onnx_data"))
    (tmp_path / "model.onnx_data").write_bytes(bytes(range(256)))
    r = scan_path(tmp_path)
    assert r.findings == [] and not r.errors


def test_gguf_header_sanity(tmp_path):
    (tmp_path / "bad.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 1 << 40, 1))
    r = scan_path(tmp_path / "bad.gguf")
    assert r.errors and any(f.rule == "gguf.malformed" for f in r.findings)
    (tmp_path / "trunc.gguf").write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 0, 1) + struct.pack("<Q", 1 << 30) + b"abc")
    assert scan_path(tmp_path / "trunc.gguf").errors

"""ONNX (protobuf) walk for external-data path traversal and custom operator domains; TF graph op search."""

from __future__ import annotations

import posixpath
import re
from typing import TYPE_CHECKING, Any

from .protobuf import Src, fields, text
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training", "com.microsoft",
                    "com.microsoft.nchwc", "com.microsoft.experimental", "com.ms.internal.nhwc", "org.pytorch.aten",
                    "com.microsoft.mlfeaturizers", "pkg.onnxscript.torch_lib", "pkg.onnxscript.torch_lib.common"}
MAX_DEPTH = 16
MAX_NODES = 5_000_000


class _Walk:
    def __init__(self, sc: "ScanContext", blob: "Blob", src: Src):
        self.sc, self.blob, self.src = sc, blob, src
        self.nodes = self.initializers = self.external = 0
        self.domains: set[str] = set()

    def model(self, start: int, end: int) -> None:
        for fn, wt, v in fields(self.src, start, end):
            if wt != 2:
                continue
            if fn == 7:
                self.graph(*v, 0)
            elif fn == 8:
                for f2, w2, v2 in fields(self.src, v[0], v[0] + v[1]):
                    if f2 == 1 and w2 == 2:
                        self.domain(text(self.src, v2), "opset_import")
            elif fn == 25:
                for f2, w2, v2 in fields(self.src, v[0], v[0] + v[1]):
                    if f2 == 7 and w2 == 2:
                        self.node(*v2, 1)

    def graph(self, off: int, ln: int, depth: int) -> None:
        if depth > MAX_DEPTH:
            from ..errors import ResourceLimitError

            raise ResourceLimitError(f"{self.blob.name}: ONNX subgraphs nest deeper than {MAX_DEPTH}")
        for fn, wt, v in fields(self.src, off, off + ln):
            if wt != 2:
                continue
            if fn == 1:
                self.node(*v, depth)
            elif fn == 5:
                self.tensor(*v)
            elif fn == 15:
                for f2, w2, v2 in fields(self.src, v[0], v[0] + v[1]):
                    if f2 in (1, 2) and w2 == 2:
                        self.tensor(*v2)

    def node(self, off: int, ln: int, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            from ..errors import ResourceLimitError

            raise ResourceLimitError(f"{self.blob.name}: more than {MAX_NODES} ONNX nodes")
        op, dom = "", ""
        for fn, wt, v in fields(self.src, off, off + ln):
            if wt != 2:
                continue
            if fn == 4:
                op = text(self.src, v, 256)
            elif fn == 7:
                dom = text(self.src, v, 256)
            elif fn == 5:
                for f2, w2, v2 in fields(self.src, v[0], v[0] + v[1]):
                    if w2 != 2:
                        continue
                    if f2 in (6, 11):
                        self.graph(*v2, depth + 1)
                    elif f2 in (5, 10):
                        self.tensor(*v2)
        if dom not in STANDARD_DOMAINS:
            self.domain(dom, f"node {op}")

    def domain(self, dom: str, where: str) -> None:
        if dom in STANDARD_DOMAINS or dom in self.domains:
            return
        self.domains.add(dom)
        self.sc.add("onnx.custom_op_domain", "medium",
                    "ONNX model uses a custom operator domain (needs a native custom-op library)",
                    {"domain": dom, "where": where}, self.blob.name, key=dom)

    def tensor(self, off: int, ln: int) -> None:
        self.initializers += 1
        name = ""
        for fn, wt, v in fields(self.src, off, off + ln):
            if fn == 8 and wt == 2:
                name = text(self.src, v, 512)
            elif fn == 13 and wt == 2:
                key = value = ""
                for f2, w2, v2 in fields(self.src, v[0], v[0] + v[1]):
                    if f2 == 1 and w2 == 2:
                        key = text(self.src, v2, 256)
                    elif f2 == 2 and w2 == 2:
                        value = text(self.src, v2, 4096)
                if key == "location":
                    self.location(value, name)

    def location(self, loc: str, tensor: str) -> None:
        self.external += 1
        norm = loc.replace("\\", "/")
        bad = norm.startswith("/") or re.match(r"^[A-Za-z]:", norm) or ".." in norm.split("/") or "://" in norm or "\x00" in loc
        if bad:
            self.sc.add("onnx.external_data_traversal", "high",
                        "ONNX external data path escapes the model directory (reads arbitrary files)",
                        {"location": loc[:300], "tensor": tensor[:200]}, self.blob.name, key=loc)
        else:
            folder = posixpath.dirname(self.blob.name.split("!")[-1]) if "!" not in self.blob.name else ""
            self.sc.referenced.add(posixpath.normpath(posixpath.join(folder, norm)))


@register("onnx")
def scan(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    with blob.seekable_file(sc.charge) as f:
        size = f.seek(0, 2)
        w = _Walk(sc, blob, Src(f, blob.name))
        w.model(0, size)
        return {"nodes": w.nodes, "tensors": w.initializers, "external_data": w.external}


TF_OPS = {b"PyFunc": "high", b"EagerPyFunc": "high", b"PyFuncStateless": "high", b"WriteFile": "medium",
          b"ReadFile": "medium", b"MatchingFiles": "low", b"ShellExecute": "high"}


@register("protobuf")
def scan_protobuf(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    """Generic protobuf (e.g. TensorFlow SavedModel graphs): look for ops that reach Python or files."""
    hits = set()
    with blob.open() as f:
        carry = b""
        while True:
            data = f.read(4 << 20)
            if not data:
                break
            buf = carry + data
            for op in TF_OPS:
                if op in buf:
                    hits.add(op)
            carry = buf[-32:]
    for op in sorted(hits):
        sc.add("tensorflow.dangerous_op", TF_OPS[op], f"TensorFlow graph uses op {op.decode()}", {"op": op.decode()},
               blob.name, key=op.decode())
    return {"ops_flagged": len(hits)}

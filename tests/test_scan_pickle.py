"""Pickle opcode walker: every import path, memo tricks, stacked and broken pickles. Nothing is ever loaded."""

from __future__ import annotations

import pickle
import struct

import pytest

from auditor.scan import scan_path

PROTO4 = b"\x80\x04"


def su(s: str) -> bytes:  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def bu(s: str) -> bytes:  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def call(callable_ops: bytes, arg: str = "echo pwned") -> bytes:
    return callable_ops + su(arg) + b"\x85R."


def scan_bytes(tmp_path, data: bytes, name: str = "model.pkl", settings=None):
    p = tmp_path / name
    p.write_bytes(data)
    return scan_path(p, settings)


def rules(report) -> dict[str, list]:
    out: dict[str, list] = {}
    for f in report.findings:
        out.setdefault(f.rule, []).append(f)
    return out


def imported(report, rule="pickle.dangerous_import") -> set[str]:
    return {f.evidence.get("resolves_to", f.evidence["import"]) for f in report.findings if f.rule == rule}


# -- every way of naming a global --------------------------------------------------------------------
CASES = {
    "GLOBAL": b"cos\nsystem\n(S'echo pwned'\ntR.",
    "INST": b"(S'echo pwned'\nios\nsystem\n.",
    "OBJ": PROTO4 + b"(cos\nsystem\nS'echo pwned'\no.",
    "NEWOBJ": PROTO4 + b"cos\nsystem\n" + su("x") + b"\x85\x81.",
    "NEWOBJ_EX": PROTO4 + b"cos\nsystem\n" + su("x") + b"\x85}\x92.",
    "STACK_GLOBAL/SHORT_BINUNICODE": call(PROTO4 + su("os") + su("system") + b"\x93"),
    "STACK_GLOBAL/BINUNICODE": call(PROTO4 + bu("os") + bu("system") + b"\x93"),
    "STACK_GLOBAL/UNICODE": call(PROTO4 + b"Vos\nVsystem\n\x93"),
    "STACK_GLOBAL/STRING": call(PROTO4 + b"S'os'\nS'system'\n\x93"),
    "STACK_GLOBAL/BINSTRING": call(PROTO4 + b"T\x02\x00\x00\x00osT\x06\x00\x00\x00system\x93"),
    "STACK_GLOBAL/SHORT_BINSTRING": call(PROTO4 + b"U\x02osU\x06system\x93"),
    "STACK_GLOBAL/FRAME": call(PROTO4 + b"\x95\x20\x00\x00\x00\x00\x00\x00\x00" + su("os") + su("system") + b"\x93"),
    "memo/MEMOIZE+BINGET": call(PROTO4 + su("os") + b"\x94" + su("torch") + b"\x94" + su("system") + b"\x940h\x00h\x02\x93"),
    "memo/PUT+GET": call(b"Vos\np7\n0Vsystem\np8\n0g7\ng8\n\x93"),
    "memo/LONG_BINPUT+LONG_BINGET": call(PROTO4 + su("os") + b"r\x05\x00\x00\x000" + su("system") + b"r\x06\x00\x00\x000"
                                         + b"j\x05\x00\x00\x00j\x06\x00\x00\x00\x93"),
    "py2 alias __builtin__": b"c__builtin__\neval\n(S'1'\ntR.",
    "alias posix": b"cposix\nsystem\n(S'id'\ntR.",
    "alias nt": PROTO4 + su("nt") + su("system") + b"\x93" + su("id") + b"\x85R.",
    "alias _operator": PROTO4 + su("_operator") + su("attrgetter") + b"\x93" + su("x") + b"\x85R.",
    "dotted name": PROTO4 + su("bdb") + su("Bdb.run") + b"\x93" + su("x") + b"\x85R.",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_every_import_route_is_resolved(tmp_path, case):
    r = scan_bytes(tmp_path, CASES[case])
    dangerous = rules(r).get("pickle.dangerous_import", [])
    assert dangerous, f"{case}: not flagged ({[(f.rule, f.evidence) for f in r.findings]})"
    assert all(f.severity == "critical" for f in dangerous)
    ev = dangerous[0].evidence
    assert {"import", "opcode", "offset", "opcode_index"} <= set(ev)
    assert dangerous[0].file == "model.pkl" and dangerous[0].location.startswith("offset ")


def test_memo_stack_global_resolves_the_real_names(tmp_path):
    # the picklescan "torch.LongStorage" decoy: strings pushed then memoised in a misleading order
    data = (b"Vos\np2\n0Vsystem\np3\n0Vtorch\np0\n0VLongStorage\np1\n0g2\ng3\n\x93(Vcat flag.txt\ntR.")
    r = scan_bytes(tmp_path, data)
    assert imported(r) == {"os.system"}
    f = rules(r)["pickle.dangerous_import"][0]
    assert f.evidence["opcode"] == "STACK_GLOBAL" and f.evidence["opcode_index"] == 14
    assert f.evidence["called"][0]["args"] == ["cat flag.txt"]


def test_evidence_offset_and_index_point_at_the_opcode(tmp_path):
    data = PROTO4 + su("builtins") + su("exec") + b"\x93" + su("print(1)") + b"\x85R."
    r = scan_bytes(tmp_path, data)
    f = rules(r)["pickle.dangerous_import"][0]
    assert f.evidence["import"] == "builtins.exec"
    assert data[f.evidence["offset"]] == 0x93
    assert f.evidence["opcode_index"] == 3


def test_stacked_pickles_second_stream_is_scanned(tmp_path):
    benign = pickle.dumps({"model": "weights"}, protocol=4)
    evil = call(PROTO4 + su("builtins") + su("eval") + b"\x93", "1+1")
    r = scan_bytes(tmp_path, benign + benign + evil)
    assert imported(r) == {"builtins.eval"}
    info = r.files[-1].to_dict()
    assert info["pickles"] == 3


def test_broken_pickle_keeps_what_came_before(tmp_path):
    # nullifAI: payload first, then an opcode stream that breaks
    data = PROTO4 + su("os") + su("system") + b"\x93" + su("id") + b"\x85R" + b"X\xff\xff\x00\x00abc"
    r = scan_bytes(tmp_path, data)
    rs = rules(r)
    assert imported(r) == {"os.system"}
    err = rs["pickle.parse_error"][0]
    assert err.severity == "high"
    assert err.evidence["offset"] == len(data) - 8 and "os.system" in err.evidence["imports_before_error"]
    assert not r.errors  # a broken pickle is a finding, not an incomplete audit


def test_missing_memo_key_is_a_parse_error(tmp_path):
    data = PROTO4 + b"cos\nsystem\n" + su("id") + b"\x85R0" + su("os") + b"\x94h\x03h\x00\x93K\x01."
    r = scan_bytes(tmp_path, data)
    assert imported(r) == {"os.system"}
    assert "never stored" in rules(r)["pickle.parse_error"][0].evidence["error"]


def test_invalid_opcode_after_stop_is_trailing_data(tmp_path):
    r = scan_bytes(tmp_path, pickle.dumps([1, 2], protocol=2) + b"\n\xff garbage")
    assert set(rules(r)) == {"pickle.trailing_data"}


def test_computed_stack_global_is_critical(tmp_path):
    # module name comes from a call result, not a constant: cannot be judged, so it is flagged
    data = PROTO4 + su("collections") + su("OrderedDict") + b"\x93)R" + su("x") + b"\x93."
    r = scan_bytes(tmp_path, data)
    f = rules(r)["pickle.unresolved_global"][0]
    assert f.severity == "critical"


def test_call_on_computed_value_and_build_on_global(tmp_path):
    data = (PROTO4 + su("builtins") + su("getattr") + b"\x93" + su("torch") + su("Tensor") + b"\x93" + su("x")
            + b"\x86R)R0" + su("torch") + su("_utils") + b"\x93}" + su("a") + su("b") + b"sb.")
    r = scan_bytes(tmp_path, data)
    rs = rules(r)
    assert rs["pickle.computed_call"][0].severity == "high"
    assert rs["pickle.build_on_global"][0].severity == "high"
    assert "torch._utils" in imported(r, "pickle.unknown_import")


def test_ext_opcode_is_flagged(tmp_path):
    r = scan_bytes(tmp_path, PROTO4 + b"\x82\x05)R.")
    assert rules(r)["pickle.extension_code"][0].severity == "high"


class _Sentinel:
    """Unpickling this would create a file; the test proves scanning never does."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (exec, (f"open({self.path!r}, 'w').write('ran')",))


@pytest.mark.parametrize("protocol", range(0, 6))
def test_reduce_payload_is_flagged_and_never_runs(tmp_path, protocol):
    sentinel = tmp_path / "sentinel"
    data = pickle.dumps({"w": [1.0, 2.0], "evil": _Sentinel(sentinel)}, protocol=protocol)
    r = scan_bytes(tmp_path, data)
    assert imported(r) == {"builtins.exec"}
    called = rules(r)["pickle.dangerous_import"][0].evidence["called"][0]
    assert called["via"] == "REDUCE" and "sentinel" in called["args"][0]
    assert not sentinel.exists()


@pytest.mark.parametrize("protocol", range(0, 6))
def test_plain_data_is_clean(tmp_path, protocol):
    obj = {"a": [1, 2.5, "x" * 40, b"y" * 100, None, True], "b": (1, 2), "c": {1, 2}, "d": frozenset([3]),
           "e": bytearray(b"ab"), "f": 1 << 80, "g": complex(1, 2)}
    r = scan_bytes(tmp_path, pickle.dumps(obj, protocol=protocol))
    assert r.findings == [] and not r.errors


def test_unknown_imports_and_allow_list_setting(tmp_path):
    data = PROTO4 + su("mypkg.models") + su("Net") + b"\x93)\x810" + su("mypkg.util") + su("load_all") + b"\x93."
    r = scan_bytes(tmp_path, data)
    sev = {f.evidence["import"]: f.severity for f in r.findings if f.rule == "pickle.unknown_import"}
    assert sev == {"mypkg.models.Net": "medium", "mypkg.util.load_all": "high"}
    r2 = scan_bytes(tmp_path, data, settings={"allow_imports": ["mypkg.models.Net", "mypkg.util.load_all"]})
    assert r2.findings == []
    # the allow-list setting never silences a catalogued gadget
    r3 = scan_bytes(tmp_path, CASES["GLOBAL"], settings={"allow_imports": ["os.system"]})
    assert imported(r3) == {"os.system"}


def test_review_tier_for_library_classes(tmp_path):
    data = PROTO4 + su("transformers.training_args") + su("TrainingArguments") + b"\x93)\x81}b."
    r = scan_bytes(tmp_path, data)
    assert [(f.rule, f.severity) for f in r.findings] == [("pickle.review_import", "low")]


def test_embedded_pickles_in_bytes_base64_and_hex(tmp_path):
    import base64

    inner = call(PROTO4 + su("os") + su("system") + b"\x93")
    for value in (inner, base64.b64encode(inner).decode(), inner.hex()):
        r = scan_bytes(tmp_path, pickle.dumps({"payload": value}, protocol=4))
        rs = rules(r)
        assert rs["pickle.embedded_pickle"][0].severity == "medium"
        inner_hits = [f for f in rs["pickle.dangerous_import"] if "!@" in f.file]
        assert inner_hits and inner_hits[0].evidence["import"] == "os.system"


def test_code_and_secrets_in_pickle_strings(tmp_path):
    token = "hf_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z"
    r = scan_bytes(tmp_path, pickle.dumps({"cfg": "import os; os.system('id')", "tok": token}, protocol=4))
    rs = rules(r)
    assert rs["pickle.code_string"][0].severity == "medium"
    assert rs["secret.huggingface_token"][0].severity == "high"
    assert token not in str(rs["secret.huggingface_token"][0].evidence)  # redacted


def test_protocol0_pickle_found_by_content_whatever_its_name(tmp_path):
    r = scan_bytes(tmp_path, b"cos\nsystem\n(S'id'\ntR.", name="README.md")
    assert imported(r) == {"os.system"}
    assert r.files[0].format == "pickle"


def test_text_that_merely_starts_like_an_opcode_is_not_a_pickle(tmp_path):
    r = scan_bytes(tmp_path, b"cat\ndog\nemu\nfox\n" * 10, name="vocab.txt")
    assert not [f for f in r.findings if f.rule.startswith("pickle.")]


def test_opcode_limit_makes_the_scan_incomplete(tmp_path):
    r = scan_bytes(tmp_path, pickle.dumps(list(range(5000)), protocol=4),
                   settings={"limits": {"max_opcodes": 1000}})
    assert r.errors and "max_opcodes" in r.errors[0]


def test_huge_length_prefix_is_truncation_not_memory(tmp_path):
    data = PROTO4 + b"cbuiltins\nexec\n(" + b"\x8d" + struct.pack("<Q", 1 << 60) + b"abc"
    r = scan_bytes(tmp_path, data)
    assert imported(r) == {"builtins.exec"}
    assert "truncated" in rules(r)["pickle.parse_error"][0].evidence["error"]


def test_joblib_arrays_are_skipped_and_object_arrays_scanned(tmp_path):
    joblib = pytest.importorskip("joblib")
    np = pytest.importorskip("numpy")
    sentinel = tmp_path / "sentinel"
    joblib.dump({"a": np.arange(300, dtype=np.float64).reshape(3, 100), "s": np.zeros(4, dtype="U5"),
                 "o": np.array([1, "x"], dtype=object)}, tmp_path / "ok.joblib")
    r = scan_path(tmp_path / "ok.joblib")
    assert r.findings == [] and not r.errors
    assert r.files[0].to_dict()["joblib_arrays"] == 3
    joblib.dump({"a": np.ones(10), "o": np.array([_Sentinel(sentinel)], dtype=object)}, tmp_path / "bad.joblib")
    r = scan_path(tmp_path / "bad.joblib")
    assert imported(r) == {"builtins.exec"}
    assert not sentinel.exists()

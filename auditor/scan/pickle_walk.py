"""Bounded streaming walk over pickle opcodes that resolves every import without unpickling.

The walker mirrors `pickle._Unpickler`'s stack/metastack/memo semantics with *symbolic* values
(strings, ints, imported globals, call results, small tuples/dicts), so it can tell what
STACK_GLOBAL really imports when its operands come from the memo, what REDUCE/NEWOBJ/BUILD act
on, and where a real unpickler would fail. It reads a file object in 1 MiB chunks, skips large
payloads without reading them into memory, and bounds opcodes, stack and memo.
"""

from __future__ import annotations

import codecs
import struct
from typing import Any, Callable, BinaryIO

from .limits import Limits, exceeded

CHUNK = 1 << 20
INLINE_MAX = 1 << 20  # string / bytes payloads above this are skipped, not read into memory
MEMO_VALUES_MAX = 500_000  # symbolic memo values kept (strings, globals, calls); more become unknown
BITMAP_MAX_KEY = 1 << 26
TEXT_MIN = 16  # strings at least this long go to the text callback (secrets, code, base64)

_I4 = struct.Struct("<i").unpack_from
_U4 = struct.Struct("<I").unpack_from
_U8 = struct.Struct("<Q").unpack_from
_U2 = struct.Struct("<H").unpack_from

(MARK, STOP, POP, POP_MARK, DUP, FLOAT, INT, BININT, BININT1, LONG, BININT2, NONE, PERSID,
 BINPERSID, REDUCE, STRING, BINSTRING, SHORT_BINSTRING, UNICODE, BINUNICODE, APPEND, BUILD,
 GLOBAL, DICT, EMPTY_DICT, APPENDS, GET, BINGET, INST, LONG_BINGET, LIST, EMPTY_LIST, OBJ, PUT,
 BINPUT, LONG_BINPUT, SETITEM, TUPLE, EMPTY_TUPLE, SETITEMS, BINFLOAT) = b"(.012FIJKLMNPQRSTUVXabcd}eghijl]opqrst)uG"
(PROTO, NEWOBJ, EXT1, EXT2, EXT4, TUPLE1, TUPLE2, TUPLE3, NEWTRUE, NEWFALSE, LONG1, LONG4) = range(0x80, 0x8C)
BINBYTES, SHORT_BINBYTES = b"BC"
(SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, EMPTY_SET, ADDITEMS, FROZENSET, NEWOBJ_EX, STACK_GLOBAL,
 MEMOIZE, FRAME, BYTEARRAY8, NEXT_BUFFER, READONLY_BUFFER) = range(0x8C, 0x99)

OPNAMES = {
    MARK: "MARK", STOP: "STOP", POP: "POP", POP_MARK: "POP_MARK", DUP: "DUP", FLOAT: "FLOAT",
    INT: "INT", BININT: "BININT", BININT1: "BININT1", LONG: "LONG", BININT2: "BININT2", NONE: "NONE",
    PERSID: "PERSID", BINPERSID: "BINPERSID", REDUCE: "REDUCE", STRING: "STRING",
    BINSTRING: "BINSTRING", SHORT_BINSTRING: "SHORT_BINSTRING", UNICODE: "UNICODE",
    BINUNICODE: "BINUNICODE", APPEND: "APPEND", BUILD: "BUILD", GLOBAL: "GLOBAL", DICT: "DICT",
    EMPTY_DICT: "EMPTY_DICT", APPENDS: "APPENDS", GET: "GET", BINGET: "BINGET", INST: "INST",
    LONG_BINGET: "LONG_BINGET", LIST: "LIST", EMPTY_LIST: "EMPTY_LIST", OBJ: "OBJ", PUT: "PUT",
    BINPUT: "BINPUT", LONG_BINPUT: "LONG_BINPUT", SETITEM: "SETITEM", TUPLE: "TUPLE",
    EMPTY_TUPLE: "EMPTY_TUPLE", SETITEMS: "SETITEMS", BINFLOAT: "BINFLOAT", PROTO: "PROTO",
    NEWOBJ: "NEWOBJ", EXT1: "EXT1", EXT2: "EXT2", EXT4: "EXT4", TUPLE1: "TUPLE1", TUPLE2: "TUPLE2",
    TUPLE3: "TUPLE3", NEWTRUE: "NEWTRUE", NEWFALSE: "NEWFALSE", LONG1: "LONG1", LONG4: "LONG4",
    BINBYTES: "BINBYTES", SHORT_BINBYTES: "SHORT_BINBYTES", SHORT_BINUNICODE: "SHORT_BINUNICODE",
    BINUNICODE8: "BINUNICODE8", BINBYTES8: "BINBYTES8", EMPTY_SET: "EMPTY_SET", ADDITEMS: "ADDITEMS",
    FROZENSET: "FROZENSET", NEWOBJ_EX: "NEWOBJ_EX", STACK_GLOBAL: "STACK_GLOBAL", MEMOIZE: "MEMOIZE",
    FRAME: "FRAME", BYTEARRAY8: "BYTEARRAY8", NEXT_BUFFER: "NEXT_BUFFER", READONLY_BUFFER: "READONLY_BUFFER",
}
VALID = frozenset(OPNAMES)


class PickleParseError(Exception):
    """Where and why a real unpickler would stop (everything before it may already have run)."""

    def __init__(self, message: str, offset: int, index: int):
        super().__init__(message)
        self.message, self.offset, self.index = message, offset, index


class Global:
    """An imported `module.name` as a symbolic stack value."""

    __slots__ = ("module", "name")

    def __init__(self, module: str, name: str):
        self.module, self.name = module, name

    def __repr__(self) -> str:
        return f"{self.module}.{self.name}"


class Call:
    """The result of REDUCE / NEWOBJ / OBJ / INST: which callable made it, with flat args."""

    __slots__ = ("func", "args")

    def __init__(self, func: Any, args: Any):
        self.func, self.args = func, args


_ATOMS = (str, int, bool, float, Global, type(None))


def _flat(t: tuple) -> tuple | None:
    """Keep at most two levels of symbolic structure so memory stays bounded."""
    if len(t) > 8:
        return None
    out = []
    for x in t:
        tx = type(x)
        if tx is tuple:
            x = x if all(type(y) in _ATOMS for y in x) else None
        elif tx is Call:
            x = Call(x.func, None)
        elif tx is dict:
            x = None
        out.append(x)
    return tuple(out)


def _atomic_args(a: Any) -> Any:
    if type(a) is tuple:
        return tuple(x if type(x) in _ATOMS else (x if type(x) is tuple and all(type(y) in _ATOMS for y in x) else None) for x in a[:8])
    return None


class Reader:
    """Chunked reader over a binary stream; tracks absolute offsets; never holds more than ~2 MiB."""

    def __init__(self, f: BinaryIO, offset: int = 0, size: int | None = None):
        """`offset` is the absolute offset of the stream's current position; `size` its absolute end."""
        self.f, self.base, self.size = f, offset, size
        self.buf, self.i, self.n, self.eof = b"", 0, 0, False
        try:
            self.delta = f.tell() - offset if f.seekable() else None
        except (OSError, AttributeError, ValueError):
            self.delta = None

    def tell(self) -> int:
        return self.base + self.i

    def _read(self, k: int) -> bytes:
        parts, got = [], 0
        while got < k:
            d = self.f.read(k - got)
            if not d:
                self.eof = True
                break
            parts.append(d)
            got += len(d)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def fill(self, need: int) -> None:
        """Make at least `need` bytes available from `i` (fewer only at end of stream)."""
        if self.n - self.i >= need or self.eof:
            return
        keep = self.buf[self.i:]
        data = self._read(max(CHUNK, need - len(keep)))
        self.base += self.i
        self.buf = keep + data if keep else data
        self.i, self.n = 0, len(self.buf)

    def at_end(self) -> bool:
        self.fill(1)
        return self.i >= self.n

    def peek(self, k: int) -> bytes:
        self.fill(k)
        return self.buf[self.i:self.i + k]

    def skip(self, k: int) -> int:
        """Skip k bytes without keeping them; returns how many were skipped (less only at the end)."""
        avail = self.n - self.i
        if k <= avail:
            self.i += k
            return k
        self.base += self.n
        self.buf, self.i, self.n = b"", 0, 0
        rest = k - avail
        if self.delta is not None and self.size is not None:
            moved = max(0, min(rest, self.size - self.base))
            self.f.seek(self.base + moved + self.delta)
            self.base += moved
            if moved < rest:
                self.eof = True
            return avail + moved
        done = avail
        while rest > 0:
            d = self.f.read(min(rest, CHUNK))
            if not d:
                self.eof = True
                break
            rest -= len(d)
            done += len(d)
            self.base += len(d)
        return done


class Walk:
    """Accumulates what the opcodes of one stream (possibly several stacked pickles) do."""

    def __init__(self, limits: Limits, text_cb: Callable | None = None, bytes_cb: Callable | None = None):
        self.limits = limits
        self.text_cb, self.bytes_cb = text_cb, bytes_cb
        self.imports: dict[tuple[str, str], list] = {}  # (module, name) -> [opname, offset, index, count]
        self.calls: dict[tuple[str, str], list] = {}  # (target, kind) -> [offset, index, count, args]
        self.anomalies: list[tuple[str, str, int, int, dict]] = []  # (rule, detail, offset, index, evidence)
        self.persistent_ids: list[tuple] = []
        self.n_ops = 0
        self.n_pickles = 0
        self.protocols: set[int] = set()
        self.joblib_arrays = 0
        self._gcache: dict[tuple[str, str], Global] = {}

    # -- helpers used off the hot path -------------------------------------------------------
    def _global(self, module: str, name: str, opname: str, offset: int, index: int) -> Global:
        key = (module, name)
        rec = self.imports.get(key)
        if rec is None:
            self.imports[key] = [opname, offset, index, 1]
        else:
            rec[3] += 1
        g = self._gcache.get(key)
        if g is None:
            g = self._gcache[key] = Global(module, name)
        return g

    def _anomaly(self, rule: str, detail: str, offset: int, index: int, **ev: Any) -> None:
        if len(self.anomalies) < 1000:
            self.anomalies.append((rule, detail, offset, index, ev))

    def _call(self, kind: str, func: Any, args: Any, offset: int, index: int) -> None:
        if type(func) is Global:
            target = f"{func.module}.{func.name}"
        else:
            target = _describe(func)
            self._anomaly("pickle.computed_call", f"{kind} calls a value that is not an imported global ({target})",
                          offset, index, opcode=kind, callable=target)
        key = (target, kind)
        rec = self.calls.get(key)
        if rec is None:
            self.calls[key] = [offset, index, 1, _evidence_args(args)]
        else:
            rec[2] += 1

    # -- the walk ----------------------------------------------------------------------------
    def walk_one(self, rd: Reader) -> Any:
        """Walk one pickle up to STOP; return the symbolic top value. Raises PickleParseError.

        The loop keeps every hot variable local (no closures) and handles rare opcodes through
        methods that re-sync with the Reader.
        """
        limits = self.limits
        max_ops = limits.max_opcodes
        text_cb, bytes_cb = self.text_cb, self.bytes_cb
        stack: list = []
        metastack: list = []
        memo = Memo(limits)
        mbits, memo_vals = memo.bits, memo.vals
        append = stack.append
        nops = self.n_ops
        buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
        lim = n - 16 if not rd.eof else n + 1
        self.n_pickles += 1
        op = -1
        opos = base + i
        try:
            while True:
                if i > lim:
                    rd.i = i
                    rd.fill(64)
                    buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                    lim = n - 16 if not rd.eof else n + 1
                    self._check(nops, stack, metastack, memo)
                    if i >= n:
                        opos = base + i
                        raise PickleParseError("truncated: pickle ended without STOP", opos, nops)
                opos = base + i
                op = buf[i]
                i += 1
                nops += 1
                if op == BININT1:
                    append(buf[i])
                    i += 1
                elif op == BINPUT or op == MEMOIZE:
                    if op == BINPUT:
                        k = buf[i]
                        i += 1
                    else:
                        k = memo.n
                    b = k >> 3
                    if b >= len(mbits):
                        memo.grow(b)
                        mbits = memo.bits
                    m = 1 << (k & 7)
                    if not mbits[b] & m:
                        mbits[b] |= m
                        memo.n += 1
                    v = stack[-1]
                    if v.__class__ in _MEMO_TYPES and (len(memo_vals) < MEMO_VALUES_MAX or k in memo_vals):
                        memo_vals[k] = v
                    elif k in memo_vals:
                        del memo_vals[k]
                elif op == BINGET:
                    k = buf[i]
                    i += 1
                    if (k >> 3) >= len(mbits) or not mbits[k >> 3] & (1 << (k & 7)):
                        raise PickleParseError(f"memo key {k} was never stored (a real unpickler stops here)", opos, nops - 1)
                    append(memo_vals.get(k))
                elif op == BININT:
                    append(_I4(buf, i)[0])
                    i += 4
                elif op == MARK:
                    metastack.append(stack)
                    stack = []
                    append = stack.append
                elif op == BININT2:
                    append(buf[i] | (buf[i + 1] << 8))
                    i += 2
                elif op == SHORT_BINUNICODE:
                    size = buf[i]
                    if i + 1 + size > n:
                        rd.i = i
                        rd.fill(size + 1)
                        buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                        lim = n - 16 if not rd.eof else n + 1
                        if i + 1 + size > n:
                            raise PickleParseError("truncated inside SHORT_BINUNICODE", opos, nops - 1)
                    try:
                        s = buf[i + 1:i + 1 + size].decode("utf-8", "surrogatepass")
                    except UnicodeDecodeError:
                        raise PickleParseError("SHORT_BINUNICODE is not valid UTF-8", opos, nops - 1) from None
                    i += 1 + size
                    append(s)
                    if size >= TEXT_MIN and text_cb:
                        text_cb(opos, s)
                elif op == TUPLE2:
                    b2 = stack.pop()
                    a2 = stack[-1]
                    t = (a2, b2)
                    if a2.__class__ in _NESTED or b2.__class__ in _NESTED:
                        t = _flat(t)
                    stack[-1] = t
                elif op == TUPLE1:
                    a1 = stack[-1]
                    stack[-1] = (a1,) if a1.__class__ not in _NESTED else _flat((a1,))
                elif op == BINFLOAT:
                    append(None)
                    i += 8
                elif op == APPENDS:
                    stack = metastack.pop()
                    append = stack.append
                    stack[-1]
                elif op == TUPLE3:
                    c3 = stack.pop()
                    b3 = stack.pop()
                    a3 = stack[-1]
                    t = (a3, b3, c3)
                    if a3.__class__ in _NESTED or b3.__class__ in _NESTED or c3.__class__ in _NESTED:
                        t = _flat(t)
                    stack[-1] = t
                elif op == SETITEMS:
                    items = stack
                    stack = metastack.pop()
                    append = stack.append
                    d = stack[-1]
                    if len(items) & 1:
                        raise PickleParseError("SETITEMS with an odd number of items", opos, nops - 1)
                    if d.__class__ is dict and len(d) < 16:
                        _fill_dict(d, items)
                elif op == REDUCE:
                    args = stack.pop()
                    func = stack[-1]
                    self._call("REDUCE", func, args, opos, nops - 1)
                    stack[-1] = Call(func, _atomic_args(args))
                elif op == NONE:
                    append(None)
                elif op == NEWTRUE or op == NEWFALSE:
                    append(op == NEWTRUE)
                elif op == EMPTY_TUPLE:
                    append(())
                elif op == EMPTY_LIST or op == EMPTY_SET:
                    append(None)
                elif op == EMPTY_DICT:
                    append({})
                elif op == TUPLE:
                    items = stack
                    stack = metastack.pop()
                    append = stack.append
                    append(_flat(tuple(items)) if len(items) <= 8 else None)
                elif op == LONG_BINPUT or op == LONG_BINGET or op == PUT or op == GET:
                    if op == LONG_BINPUT or op == LONG_BINGET:
                        k = _U4(buf, i)[0]
                        i += 4
                    else:
                        rd.i = i
                        line = self._readline(rd, opos, nops)
                        buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                        lim = n - 16 if not rd.eof else n + 1
                        try:
                            k = int(line)
                        except ValueError:
                            raise PickleParseError(f"{OPNAMES[op]} argument is not an integer", opos, nops - 1) from None
                    if op == LONG_BINPUT or op == PUT:
                        memo.put(k, stack[-1], opos, nops - 1)
                        mbits = memo.bits
                    else:
                        append(memo.get(k, opos, nops - 1))
                elif op == BINUNICODE or op == BINUNICODE8 or op == SHORT_BINSTRING or op == BINSTRING:
                    if op == BINUNICODE:
                        size = _U4(buf, i)[0]
                        i += 4
                    elif op == BINUNICODE8:
                        size = _U8(buf, i)[0]
                        i += 8
                    elif op == SHORT_BINSTRING:
                        size = buf[i]
                        i += 1
                    else:
                        size = _I4(buf, i)[0]
                        i += 4
                        if size < 0:
                            raise PickleParseError("BINSTRING with negative length", opos, nops - 1)
                    rd.i = i
                    data = self._payload(rd, size, opos, nops)
                    buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                    lim = n - 16 if not rd.eof else n + 1
                    if data.__class__ is tuple:
                        append(None)
                        if text_cb:
                            text_cb(opos, data[0].decode("utf-8", "replace"))
                    else:
                        if op == BINUNICODE or op == BINUNICODE8:
                            try:
                                s = data.decode("utf-8", "surrogatepass")
                            except UnicodeDecodeError:
                                raise PickleParseError(f"{OPNAMES[op]} is not valid UTF-8", opos, nops - 1) from None
                        else:
                            s = data.decode("latin-1")
                        append(s)
                        if size >= TEXT_MIN and text_cb:
                            text_cb(opos, s)
                elif op == BINPERSID:
                    pid = stack[-1]
                    stack[-1] = None
                    if len(self.persistent_ids) < 1_000_000:
                        self.persistent_ids.append(pid if pid.__class__ is tuple else (pid,))
                elif op == STACK_GLOBAL:
                    name = stack.pop()
                    module = stack.pop()
                    if name.__class__ is str and module.__class__ is str:
                        append(self._global(module, name, "STACK_GLOBAL", opos, nops - 1))
                    else:
                        self._anomaly(
                            "pickle.unresolved_global",
                            "STACK_GLOBAL operands are not constant strings (computed import)",
                            opos, nops - 1, module=_describe(module), name=_describe(name))
                        append(None)
                elif op == SHORT_BINBYTES or op == BINBYTES or op == BINBYTES8 or op == BYTEARRAY8:
                    if op == SHORT_BINBYTES:
                        size = buf[i]
                        i += 1
                    elif op == BINBYTES:
                        size = _U4(buf, i)[0]
                        i += 4
                    else:
                        size = _U8(buf, i)[0]
                        i += 8
                    rd.i = i
                    data = self._payload(rd, size, opos, nops)
                    buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                    lim = n - 16 if not rd.eof else n + 1
                    append(None)
                    if bytes_cb and size >= TEXT_MIN:
                        if data.__class__ is tuple:
                            bytes_cb(opos, data[0], True)
                        else:
                            bytes_cb(opos, data, False)
                elif op == BUILD:
                    state = stack.pop()
                    inst = stack[-1]
                    if inst.__class__ is Global:
                        self._anomaly("pickle.build_on_global",
                                      f"BUILD sets attributes on the imported object {inst!r} itself",
                                      opos, nops - 1, target=repr(inst))
                    elif inst.__class__ is Call and inst.func.__class__ is Global:
                        f = inst.func
                        self._call("BUILD", f, None, opos, nops - 1)
                        if f.name == "NumpyArrayWrapper" and state.__class__ is dict:
                            rd.i = i
                            self.n_ops = nops
                            self._joblib_array(rd, state, opos, nops)
                            nops = self.n_ops
                            buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                            lim = n - 16 if not rd.eof else n + 1
                elif op == SETITEM:
                    v = stack.pop()
                    k = stack.pop()
                    d = stack[-1]
                    if d.__class__ is dict and k.__class__ is str and len(d) < 16:
                        d[k] = v if v.__class__ is not dict else None
                elif op == APPEND:
                    stack.pop()
                    stack[-1]
                elif op == NEWOBJ:
                    args = stack.pop()
                    cls = stack[-1]
                    self._call("NEWOBJ", cls, args, opos, nops - 1)
                    stack[-1] = Call(cls, _atomic_args(args))
                elif op == GLOBAL or op == INST:
                    rd.i = i
                    mline = self._readline(rd, opos, nops)
                    nline = self._readline(rd, opos, nops)
                    buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                    lim = n - 16 if not rd.eof else n + 1
                    try:
                        module = mline.decode("utf-8")
                        name = nline.decode("utf-8")
                    except UnicodeDecodeError:
                        raise PickleParseError(f"{OPNAMES[op]} argument is not valid UTF-8", opos, nops - 1) from None
                    g = self._global(module, name, OPNAMES[op], opos, nops - 1)
                    if op == GLOBAL:
                        append(g)
                    else:
                        items = tuple(stack[:8])
                        stack = metastack.pop()
                        append = stack.append
                        self._call("INST", g, items, opos, nops - 1)
                        append(Call(g, _atomic_args(items)))
                elif op == FRAME:
                    flen = _U8(buf, i)[0]
                    i += 8
                    if rd.size is not None and base + i + flen > rd.size:
                        self._anomaly("pickle.frame_overrun", "FRAME length runs past the end of the data",
                                      opos, nops - 1, frame_length=flen)
                elif op == PROTO:
                    proto = buf[i]
                    i += 1
                    if proto > 5:
                        raise PickleParseError(f"unsupported pickle protocol {proto}", opos, nops - 1)
                    self.protocols.add(proto)
                elif op == STOP:
                    value = stack.pop()
                    rd.i = i
                    if nops > max_ops:
                        raise exceeded("max_opcodes", max_ops, nops)
                    return value
                elif op == DICT:
                    items = stack
                    stack = metastack.pop()
                    append = stack.append
                    if len(items) & 1:
                        raise PickleParseError("DICT with an odd number of items", opos, nops - 1)
                    d = {}
                    _fill_dict(d, items)
                    append(d)
                elif op == LIST or op == FROZENSET:
                    stack = metastack.pop()
                    append = stack.append
                    append(None)
                elif op == ADDITEMS or op == POP_MARK:
                    stack = metastack.pop()
                    append = stack.append
                    if op == ADDITEMS:
                        stack[-1]
                elif op == POP:
                    if stack:
                        stack.pop()
                    else:
                        stack = metastack.pop()
                        append = stack.append
                elif op == DUP:
                    append(stack[-1])
                elif op == OBJ:
                    items = stack
                    stack = metastack.pop()
                    append = stack.append
                    if not items:
                        raise PickleParseError("OBJ without a class", opos, nops - 1)
                    self._call("OBJ", items[0], tuple(items[1:9]), opos, nops - 1)
                    append(Call(items[0], _atomic_args(tuple(items[1:9]))))
                elif op == NEWOBJ_EX:
                    stack.pop()
                    args = stack.pop()
                    cls = stack[-1]
                    self._call("NEWOBJ_EX", cls, args, opos, nops - 1)
                    stack[-1] = Call(cls, _atomic_args(args))
                elif op == STRING or op == UNICODE or op == INT or op == LONG or op == FLOAT or op == PERSID:
                    rd.i = i
                    line = self._readline(rd, opos, nops)
                    buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                    lim = n - 16 if not rd.eof else n + 1
                    v = _text_arg(op, line, opos, nops - 1)
                    if op == PERSID:
                        self.persistent_ids.append((v,))
                        v = None
                    append(v)
                    if v.__class__ is str and len(v) >= TEXT_MIN and text_cb:
                        text_cb(opos, v)
                elif op == LONG1 or op == LONG4:
                    if op == LONG1:
                        size = buf[i]
                        i += 1
                    else:
                        size = _I4(buf, i)[0]
                        i += 4
                        if size < 0:
                            raise PickleParseError("LONG4 with negative length", opos, nops - 1)
                    rd.i = i
                    data = self._payload(rd, size, opos, nops)
                    buf, i, n, base = rd.buf, rd.i, rd.n, rd.base
                    lim = n - 16 if not rd.eof else n + 1
                    append(int.from_bytes(data, "little", signed=True) if data.__class__ is bytes and size <= 16 else None)
                elif op == EXT1 or op == EXT2 or op == EXT4:
                    if op == EXT1:
                        code = buf[i]
                        i += 1
                    elif op == EXT2:
                        code = _U2(buf, i)[0]
                        i += 2
                    else:
                        code = _I4(buf, i)[0]
                        i += 4
                    self._anomaly("pickle.extension_code",
                                  "EXT opcode imports whatever the loader's copyreg extension registry maps it to",
                                  opos, nops - 1, code=code)
                    append(None)
                elif op == NEXT_BUFFER:
                    append(None)
                elif op == READONLY_BUFFER:
                    stack[-1]
                else:
                    raise PickleParseError(f"invalid opcode 0x{op:02x}", opos, nops - 1)
        except IndexError:
            name = OPNAMES.get(op, hex(op))
            if op in _ARG1_OPS and i >= n:
                raise PickleParseError(f"truncated inside {name}", opos, nops - 1) from None
            raise PickleParseError(f"{name} on an empty stack or without a MARK (stack underflow)", opos, nops - 1) from None
        except struct.error:
            raise PickleParseError(f"truncated inside {OPNAMES.get(op, hex(op))}", opos, nops - 1) from None
        finally:
            self.n_ops = nops
        # not reached

    def _check(self, nops: int, stack: list, metastack: list, memo: "Memo") -> None:
        limits = self.limits
        if nops > limits.max_opcodes:
            raise exceeded("max_opcodes", limits.max_opcodes, nops)
        depth = len(stack) + len(metastack)
        if depth > limits.max_pickle_stack or depth + sum(map(len, metastack)) > limits.max_pickle_stack:
            raise exceeded("max_pickle_stack", limits.max_pickle_stack, depth)
        if memo.n > limits.max_pickle_memo:
            raise exceeded("max_pickle_memo", limits.max_pickle_memo, memo.n)

    def _readline(self, rd: Reader, opos: int, nops: int) -> bytes:
        """Read a newline-terminated text argument (bounded)."""
        j = rd.buf.find(b"\n", rd.i)
        while j < 0:
            if rd.eof:
                raise PickleParseError("truncated: no newline after text argument", opos, nops - 1)
            if rd.n - rd.i > self.limits.max_line_length:
                raise exceeded("max_line_length", self.limits.max_line_length, rd.n - rd.i)
            rd.fill(rd.n - rd.i + CHUNK)
            j = rd.buf.find(b"\n", rd.i)
        line = rd.buf[rd.i:j]
        rd.i = j + 1
        return line

    def _payload(self, rd: Reader, size: int, opos: int, nops: int):
        """A length-prefixed payload: bytes when small, else (first 64 bytes,) after skipping it."""
        if size <= INLINE_MAX:
            if rd.i + size > rd.n:
                rd.fill(size)
                if rd.i + size > rd.n:
                    raise PickleParseError(f"truncated: payload of {size} bytes runs past the end of the data", opos, nops - 1)
            data = rd.buf[rd.i:rd.i + size]
            rd.i += size
            return data
        head = rd.peek(64)
        if rd.skip(size) < size:
            raise PickleParseError(f"truncated: payload of {size} bytes runs past the end of the data", opos, nops - 1)
        return (head,)

    def _joblib_array(self, rd: Reader, state: dict, offset: int, index: int) -> None:
        """joblib writes raw array bytes (or a nested pickle for object arrays) right after BUILD."""
        self.joblib_arrays += 1
        dtype = state.get("dtype")
        descr = dtype.args[0] if type(dtype) is Call and dtype.args and type(dtype.args[0]) is str else None
        shape = state.get("shape")
        if descr is None or type(shape) is not tuple or any(type(d) is not int or d < 0 for d in shape):
            raise PickleParseError("joblib NumpyArrayWrapper with unknown dtype/shape: cannot find the pickle after its array data", offset, index)
        if descr.startswith("O"):
            self.walk_one(rd)
            return
        itemsize = _itemsize(descr)
        if itemsize is None:
            raise PickleParseError(f"joblib array with unsupported dtype {descr!r}", offset, index)
        if type(state.get("numpy_array_alignment_bytes")) is int:
            pad = rd.peek(1)
            if not pad:
                raise PickleParseError("truncated joblib array padding", offset, index)
            rd.skip(1 + pad[0])
        count = 1
        for d in shape:
            count *= d
        if rd.skip(count * itemsize) < count * itemsize:
            raise PickleParseError("truncated joblib array data", offset, index)


_NESTED = (tuple, Call, dict)
_MEMO_TYPES = frozenset((str, Global, Call, int))


class Memo:
    """The memo's key set as a bitmap (plus a set for huge keys) and the symbolic values worth keeping."""

    def __init__(self, limits: Limits):
        self.bits = bytearray(1024)
        self.big: set[int] = set()
        self.vals: dict[int, Any] = {}
        self.n = 0
        self.limit = limits.max_pickle_memo

    def grow(self, b: int) -> None:
        if b >= BITMAP_MAX_KEY >> 3:
            raise exceeded("max_pickle_memo", self.limit, b << 3)
        self.bits.extend(bytes(max(b + 1 - len(self.bits), len(self.bits))))

    def put(self, k: int, v: Any, opos: int, index: int) -> None:
        if k < 0:
            raise PickleParseError(f"negative memo key {k}", opos, index)
        if k < BITMAP_MAX_KEY:
            b = k >> 3
            if b >= len(self.bits):
                self.grow(b)
            m = 1 << (k & 7)
            if not self.bits[b] & m:
                self.bits[b] |= m
                self.n += 1
        elif k not in self.big:
            if len(self.big) >= self.limit:
                raise exceeded("max_pickle_memo", self.limit, len(self.big))
            self.big.add(k)
            self.n += 1
        if v.__class__ in _MEMO_TYPES and (len(self.vals) < MEMO_VALUES_MAX or k in self.vals):
            self.vals[k] = v
        else:
            self.vals.pop(k, None)

    def get(self, k: int, opos: int, index: int) -> Any:
        if 0 <= k < BITMAP_MAX_KEY:
            b = k >> 3
            if b < len(self.bits) and self.bits[b] & (1 << (k & 7)):
                return self.vals.get(k)
        elif k in self.big:
            return self.vals.get(k)
        raise PickleParseError(f"memo key {k} was never stored (a real unpickler stops here)", opos, index)


def _fill_dict(d: dict, items: list) -> None:
    for k in range(0, min(len(items), 32), 2):
        key = items[k]
        if key.__class__ is str and len(d) < 16:
            v = items[k + 1]
            d[key] = v if v.__class__ is not dict else None


def _text_arg(op: int, line: bytes, opos: int, index: int) -> Any:
    """Decode the newline-terminated argument of STRING / UNICODE / INT / LONG / FLOAT / PERSID."""
    try:
        if op == STRING:
            if len(line) >= 2 and line[:1] == line[-1:] and line[:1] in (b"'", b'"'):
                return codecs.escape_decode(line[1:-1])[0].decode("latin-1")
            raise PickleParseError("STRING argument must be quoted", opos, index)
        if op == UNICODE:
            return line.decode("raw-unicode-escape")
        if op == PERSID:
            return line.decode("ascii")
        if op == FLOAT:
            float(line)
            return None
        if op == INT and line in (b"00", b"01"):
            return line == b"01"
        return int(line[:-1] if op == LONG and line.endswith(b"L") else line)
    except PickleParseError:
        raise
    except (ValueError, UnicodeDecodeError):
        raise PickleParseError(f"{OPNAMES[op]} argument is malformed", opos, index) from None
_ARG1_OPS = frozenset((BINPUT, BINGET, BININT1, PROTO, SHORT_BINUNICODE, SHORT_BINBYTES, SHORT_BINSTRING, LONG1, EXT1))


def _itemsize(descr: str) -> int | None:
    kind = descr.lstrip("<>|=")[:1]
    digits = descr.lstrip("<>|=")[1:]
    if not digits.isdigit():
        return None
    size = int(digits)
    return size * 4 if kind == "U" else size


def _describe(v: Any) -> str:
    if v is None:
        return "<unknown>"
    if type(v) is Global:
        return f"{v.module}.{v.name}"
    if type(v) is Call:
        return f"<result of {_describe(v.func)}(...)>"
    if type(v) is str:
        return repr(v[:80])
    return f"<{type(v).__name__}>"


def _evidence_args(args: Any) -> list | None:
    if type(args) is not tuple:
        return None
    out = []
    for a in args[:4]:
        if type(a) is str:
            out.append(a[:200])
        elif type(a) in (int, bool, float) or a is None:
            out.append(a)
        else:
            out.append(_describe(a))
    return out

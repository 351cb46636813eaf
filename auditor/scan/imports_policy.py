"""Default-deny judgement of the globals a pickle imports: allow-list, review list, gadget catalogue."""

from __future__ import annotations

import sys
from functools import lru_cache

# Python 2 names and C accelerator modules, resolved the way Unpickler(fix_imports=True) and the
# interpreter would, so `__builtin__.eval`, `posix.system` and `_operator.attrgetter` are judged
# like `builtins.eval`, `os.system` and `operator.attrgetter`.
ALIASES = {
    "__builtin__": "builtins", "exceptions": "builtins", "copy_reg": "copyreg",
    "posix": "os", "nt": "os", "_posixsubprocess": "subprocess", "commands": "subprocess",
    "_operator": "operator", "_functools": "functools", "_pickle": "pickle", "cPickle": "pickle",
    "_io": "io", "httplib": "http.client", "urllib2": "urllib.request", "cookielib": "http.cookiejar",
    "SocketServer": "socketserver", "_socket": "socket", "_ssl": "ssl", "_ctypes": "ctypes",
    "_thread": "threading", "thread": "threading", "_subprocess": "subprocess", "_winapi": "subprocess",
    "_posixshmem": "multiprocessing", "_multiprocessing": "multiprocessing", "_signal": "signal",
    "_imp": "importlib", "imp": "importlib", "_frozen_importlib": "importlib",
    "_frozen_importlib_external": "importlib", "_bootlocale": "locale",
}

# Whole modules whose every attribute is a code-execution, process, network or file-system gadget.
DANGEROUS_MODULES = {
    "os": "process execution / file system", "subprocess": "process execution", "pty": "process execution",
    "popen2": "process execution", "platform": "runs shell commands (_syscmd_ver)",
    "socket": "network", "ssl": "network", "select": "network", "selectors": "network",
    "socketserver": "network", "asyncio": "process execution / network", "http": "network",
    "urllib": "network", "urllib2": "network", "urllib3": "network", "requests": "network",
    "httpx": "network", "aiohttp": "network", "ftplib": "network", "smtplib": "network",
    "telnetlib": "network", "imaplib": "network / process (IMAP4_stream)", "poplib": "network",
    "nntplib": "network", "xmlrpc": "network", "webbrowser": "launches programs", "paramiko": "network",
    "shutil": "file system", "tempfile": "file system", "glob": "file system", "fileinput": "file system",
    "io": "file system (open/FileIO)", "pathlib": "file system", "tarfile": "file system",
    "zipfile": "file system", "shelve": "file system / pickle", "dbm": "file system",
    "sqlite3": "file system", "logging": "file write / network (handlers, config.listen)",
    "sys": "interpreter state", "runpy": "code execution", "importlib": "imports code",
    "pkgutil": "imports code (resolve_name)", "zipimport": "imports code", "site": "code execution",
    "code": "code execution", "codeop": "code execution", "pdb": "code execution", "bdb": "code execution",
    "doctest": "code execution", "trace": "code execution", "profile": "code execution",
    "cProfile": "code execution", "timeit": "code execution", "pydoc": "code execution / pager",
    "idlelib": "code execution", "lib2to3": "code execution", "test": "code execution (test.support)",
    "distutils": "code / process execution", "setuptools": "code / process execution",
    "pip": "installs and runs code", "ensurepip": "installs and runs code", "venv": "process execution",
    "_aix_support": "process execution", "_osx_support": "process execution", "_pyrepl": "process execution",
    "ctypes": "native code", "cffi": "native code", "marshal": "code objects", "types": "code objects",
    "pickle": "nested unpickling", "dill": "code objects", "cloudpickle": "code objects",
    "joblib": "nested unpickling", "multiprocessing": "process execution", "concurrent": "process execution",
    "threading": "runs callables", "signal": "interpreter state", "gc": "interpreter state",
    "inspect": "attribute access gadget", "operator": "attribute access gadget",
    "functools": "call gadget", "builtins": "interpreter builtins", "uuid": "process execution",
    "code_module": "code execution", "tkinter": "code execution", "turtle": "code execution",
    "cgi": "process execution", "cgitb": "code execution", "smtpd": "network", "mailbox": "file system",
    "compileall": "code execution", "py_compile": "code execution", "sysconfig": "interpreter state",
    "ast": "code compilation", "dis": "code objects", "copy": "call gadget",
    "numpy.f2py": "process execution", "numpy.testing": "code execution", "numpy.distutils": "process execution",
    "numpy.ctypeslib": "native code", "numpy.lib.npyio": "recursive load",
    "torch.jit": "code execution", "torch._inductor": "code execution", "torch._dynamo": "code execution",
    "torch.fx": "code execution", "torch.utils.collect_env": "process execution",
    "torch.utils.bottleneck": "code execution", "torch.utils.data.datapipes": "code execution",
    "torch.utils._config_module": "code execution", "torch.utils.cpp_extension": "native code",
    "torch.hub": "downloads and runs code", "torch.package": "code execution", "torch.serialization": "recursive load",
    "torch.ops": "native ops", "torch.classes": "native classes", "torch.compiler": "code execution",
    "torch._export": "code execution", "torch.export": "code execution", "torch.library": "native ops",
    "torch.distributed": "network", "torch.multiprocessing": "process execution", "torch.cuda.nvtx": "native",
    "tensorflow": "code / file execution", "keras": "code execution (Lambda)", "jinja2": "template execution",
    "yaml": "unsafe load", "subprocess32": "process execution", "sh": "process execution",
    "pexpect": "process execution", "fabric": "process execution", "invoke": "process execution",
}

# Single attributes that are gadgets even though their module is otherwise tolerable.
DANGEROUS_NAMES = {
    ("builtins", n) for n in (
        "eval", "exec", "execfile", "compile", "__import__", "getattr", "setattr", "delattr", "open",
        "input", "raw_input", "breakpoint", "globals", "locals", "vars", "help", "exit", "quit", "apply",
        "file", "reload", "memoryview", "__loader__", "__build_class__", "classmethod", "staticmethod",
        "property", "super", "type", "map", "filter",
    )
} | {
    ("numpy", "load"), ("numpy", "loads"), ("numpy", "fromfile"), ("numpy", "save"), ("numpy", "savez"),
    ("numpy", "tofile"), ("numpy", "memmap"), ("numpy", "loadtxt"), ("numpy", "genfromtxt"),
    ("numpy.core.multiarray", "fromfile"), ("numpy._core.multiarray", "fromfile"),
    ("torch", "load"), ("torch", "save"), ("torch", "compile"), ("torch", "from_file"),
    ("torch.storage", "_load_from_bytes"), ("torch", "_load_from_bytes"),
    ("collections", "namedtuple"),
}

# What legitimate checkpoints need (torch, numpy, plain containers). Not reported.
ALLOWED = {
    ("collections", "OrderedDict"), ("collections", "defaultdict"), ("collections", "deque"),
    ("collections", "Counter"),
    ("builtins", "set"), ("builtins", "frozenset"), ("builtins", "bytearray"), ("builtins", "slice"),
    ("builtins", "complex"), ("builtins", "range"), ("builtins", "bytes"), ("builtins", "dict"),
    ("builtins", "list"), ("builtins", "tuple"), ("builtins", "int"), ("builtins", "float"),
    ("builtins", "str"), ("builtins", "bool"), ("builtins", "object"), ("builtins", "Ellipsis"),
    ("builtins", "NotImplemented"), ("builtins", "unicode"), ("builtins", "long"),
    ("_codecs", "encode"), ("codecs", "encode"),
    ("copyreg", "_reconstructor"), ("copyreg", "__newobj__"), ("copyreg", "__newobj_ex__"),
    ("datetime", "datetime"), ("datetime", "date"), ("datetime", "time"), ("datetime", "timedelta"),
    ("datetime", "timezone"), ("decimal", "Decimal"), ("fractions", "Fraction"), ("uuid", "UUID"),
    ("re", "_compile"), ("enum", "Enum"),
    ("torch", "Size"), ("torch", "device"), ("torch", "Tensor"), ("torch", "dtype"), ("torch", "layout"),
    ("torch", "memory_format"), ("torch", "UntypedStorage"), ("torch", "TypedStorage"),
    ("torch.storage", "UntypedStorage"), ("torch.storage", "TypedStorage"), ("torch.storage", "_TypedStorage"),
    ("torch.nn.parameter", "Parameter"), ("torch.nn.parameter", "Buffer"),
    ("torch.nn.parameter", "UninitializedParameter"), ("torch.nn.parameter", "UninitializedBuffer"),
    ("torch._tensor", "_rebuild_from_type"), ("torch._tensor", "_rebuild_from_type_v2"),
    ("torch.serialization", "_get_layout"), ("torch._utils", "_element_size"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.ma.core", "_mareconstruct"),
    ("numpy.ma.core", "MaskedArray"), ("numpy", "matrix"),
    ("joblib.numpy_pickle", "NumpyArrayWrapper"), ("joblib.numpy_pickle", "NDArrayWrapper"),
}
for _m in ("numpy.core.multiarray", "numpy._core.multiarray"):
    ALLOWED |= {(_m, "_reconstruct"), (_m, "scalar")}
for _m in ("numpy.core.numeric", "numpy._core.numeric"):
    ALLOWED |= {(_m, "_frombuffer")}
for _n in ("__randomstate_ctor", "__bit_generator_ctor", "__generator_ctor"):
    ALLOWED.add(("numpy.random._pickle", _n))
for _n in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64", "RandomState", "Generator"):
    ALLOWED |= {("numpy.random._mt19937", _n), ("numpy.random.bit_generator", _n), ("numpy.random", _n)}
ALLOWED_TORCH_UTILS = {
    "_rebuild_tensor", "_rebuild_tensor_v2", "_rebuild_tensor_v3", "_rebuild_parameter",
    "_rebuild_parameter_with_state", "_rebuild_qtensor", "_rebuild_sparse_tensor",
    "_rebuild_sparse_csr_tensor", "_rebuild_nested_tensor", "_rebuild_device_tensor_from_numpy",
    "_rebuild_device_tensor_from_cpu_tensor", "_rebuild_meta_tensor_no_storage",
    "_rebuild_wrapper_subclass", "_rebuild_xla_tensor", "_rebuild_mlc_tensor", "_rebuild_typed_storage",
}
TORCH_DTYPES = {
    "float32", "float", "float64", "double", "float16", "half", "bfloat16", "complex32", "chalf",
    "complex64", "cfloat", "complex128", "cdouble", "uint8", "int8", "int16", "short", "int32", "int",
    "int64", "long", "bool", "qint8", "quint8", "qint32", "quint4x2", "quint2x4", "uint16", "uint32",
    "uint64", "float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz", "float8_e8m0fnu",
    "float4_e2m1fn_x2", "bits8", "bits16", "bits1x8", "bits2x4", "bits4x2",
    "strided", "sparse_coo", "sparse_csr", "sparse_csc", "sparse_bsr", "sparse_bsc", "_mkldnn", "jagged",
    "contiguous_format", "channels_last", "channels_last_3d", "preserve_format",
    "per_tensor_affine", "per_channel_affine", "per_tensor_symmetric", "per_channel_symmetric",
    "per_channel_affine_float_qparams",
}
TORCH_STORAGES = {
    f"{p}Storage" for p in (
        "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
        "ComplexFloat", "ComplexDouble", "QUInt8", "QInt8", "QInt32", "QUInt4x2", "QUInt2x4", "Untyped",
    )
}
NUMPY_SCALARS = {
    "bool_", "bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64", "float16",
    "float32", "float64", "longdouble", "complex64", "complex128", "clongdouble", "str_", "bytes_",
    "void", "object_", "datetime64", "timedelta64", "intc", "uintc", "longlong", "ulonglong", "half",
    "single", "double", "csingle", "cdouble", "short", "ushort", "byte", "ubyte",
}

# Legitimate in the ML ecosystem but they run constructor / __setstate__ code of a library:
# reported at low so a reviewer sees that loading needs weights_only=False.
REVIEW_PREFIXES = (
    "torch.nn.modules.", "torch.nn.", "torch.optim.", "torch.ao.", "torch.quantization.",
    "sklearn.", "scipy.sparse.", "scipy.", "transformers.", "tokenizers.", "accelerate.", "omegaconf.",
    "lightning.", "pytorch_lightning.", "lightning_fabric.", "peft.", "timm.", "torchvision.",
    "sentencepiece.", "xgboost.", "lightgbm.", "catboost.", "pandas.", "argparse.", "pathlib.",
    "numpy.", "collections.", "typing.", "dataclasses.", "enum.", "fairseq.", "hydra.", "diffusers.",
    "huggingface_hub.", "safetensors.", "datasets.", "spacy.", "gensim.",
)
REVIEW_NAMES = {
    ("argparse", "Namespace"), ("pathlib", "PosixPath"), ("pathlib", "WindowsPath"),
    ("pathlib", "PurePosixPath"), ("pathlib", "PureWindowsPath"), ("pathlib", "Path"),
    ("torch.torch_version", "TorchVersion"), ("types", "SimpleNamespace"),
}

STDLIB = set(getattr(sys, "stdlib_module_names", ())) | {"__builtin__", "exceptions", "copy_reg", "posix", "nt"}


def normalise(module: str, name: str) -> tuple[str, str]:
    """Map aliases and fold dotted names (`bdb` + `Bdb.run`) so each part can be judged."""
    root, _, rest = module.partition(".")
    if root in ALIASES:
        module = ALIASES[root] + ("." + rest if rest else "")
    return module, name


def _module_match(module: str, table) -> str | None:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        cand = ".".join(parts[:i])
        if cand in table:
            return cand
    return None


@lru_cache(maxsize=65536)
def classify(module: str, name: str) -> tuple[str, str, str]:
    """Return (level, severity, reason) with level one of allowed / review / unknown / dangerous."""
    raw = f"{module}.{name}"
    module, name = normalise(module, name)
    full = f"{module}.{name}"
    if not _valid(module) or not _valid(name, dotted=True):
        return "dangerous", "critical", "malformed import name (not a Python identifier)"
    head = name.split(".")[0]
    if (module, name) in ALLOWED:
        return "allowed", "info", "allow-listed"
    if module == "torch._utils" and name in ALLOWED_TORCH_UTILS:
        return "allowed", "info", "torch tensor rebuild"
    if module in ("torch", "torch.cuda") and (name in TORCH_STORAGES or name in TORCH_DTYPES):
        return "allowed", "info", "torch storage / dtype"
    if module == "numpy" and name in NUMPY_SCALARS:
        return "allowed", "info", "numpy scalar type"
    if module == "numpy.dtypes" and name.endswith("DType"):
        return "allowed", "info", "numpy dtype class"
    if "__" in name or any(p.startswith("__") and p != "__main__" for p in module.split(".")):
        return "dangerous", "critical", "dunder attribute access (interpreter internals)"
    if (module, name) in DANGEROUS_NAMES or (module, head) in DANGEROUS_NAMES:
        return "dangerous", "critical", f"code-execution gadget {full}"
    hit = _module_match(module, DANGEROUS_MODULES)
    if hit:
        return "dangerous", "critical", f"{DANGEROUS_MODULES[hit]} ({hit})"
    if (module, name) in REVIEW_NAMES or any(full.startswith(p) for p in REVIEW_PREFIXES):
        if "." not in name and not name.startswith("_"):
            return "review", "low", "library class; loading runs its constructor/__setstate__"
    root = module.split(".")[0]
    if raw != full and root in STDLIB:
        return "unknown", "high", "unlisted standard-library import"
    if root in STDLIB or root == "torch" or root == "numpy":
        return "unknown", "high", "unlisted import from a module that has code-execution gadgets"
    if "." in name or name[:1].islower() or name.startswith("_"):
        return "unknown", "high", "unlisted function or attribute-path import (possible gadget)"
    return "unknown", "medium", "unlisted third-party class"


def _valid(text: str, dotted: bool = True) -> bool:
    if not text or len(text) > 300:
        return False
    parts = text.split(".") if dotted else [text]
    return all(p.isidentifier() for p in parts)

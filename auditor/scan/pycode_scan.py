"""Python files in a model repo run under trust_remote_code: hash them and scan their AST (never execute)."""

from __future__ import annotations

import ast
import hashlib
from typing import TYPE_CHECKING, Any

from ..errors import ResourceLimitError
from . import patterns
from .handlers import register

if TYPE_CHECKING:
    from .handlers import ScanContext
    from .blob import Blob

MAX_SOURCE = 8 << 20

PROCESS = {"os.system", "os.popen", "os.spawnl", "os.spawnle", "os.spawnlp", "os.spawnv", "os.spawnve", "os.spawnvp",
           "os.execl", "os.execle", "os.execlp", "os.execv", "os.execve", "os.execvp", "os.execvpe", "os.fork",
           "os.forkpty", "os.posix_spawn", "os.posix_spawnp", "pty.spawn", "commands.getoutput", "commands.getstatusoutput",
           "platform.popen", "asyncio.create_subprocess_exec", "asyncio.create_subprocess_shell"}
PROCESS_PREFIX = ("subprocess.", "sh.", "pexpect.")
DYNAMIC = {"eval", "exec", "compile", "__import__", "importlib.import_module", "importlib.__import__", "runpy.run_path",
           "runpy.run_module", "marshal.loads", "types.CodeType", "types.FunctionType", "builtins.eval", "builtins.exec",
           "imp.load_source", "importlib.util.spec_from_file_location", "importlib.machinery.SourceFileLoader",
           "ctypes.CDLL", "ctypes.cdll.LoadLibrary", "ctypes.WinDLL", "cffi.FFI"}
DECODERS = {"base64.b64decode", "base64.b32decode", "base64.b16decode", "base64.a85decode", "base64.decodebytes",
            "zlib.decompress", "gzip.decompress", "lzma.decompress", "bz2.decompress", "marshal.loads",
            "codecs.decode", "bytes.fromhex", "binascii.unhexlify", "binascii.a2b_base64"}
NETWORK_MODULES = {"socket", "requests", "urllib", "urllib2", "urllib3", "http", "httpx", "aiohttp", "ftplib", "smtplib",
                   "telnetlib", "paramiko", "websocket", "websockets", "xmlrpc", "ssl"}
WRITE_CALLS = {"os.remove", "os.unlink", "os.rmdir", "os.removedirs", "os.rename", "os.replace", "os.chmod", "os.chown",
               "os.symlink", "os.link", "os.makedirs", "os.mkdir", "shutil.rmtree", "shutil.move", "shutil.copy",
               "shutil.copyfile", "shutil.copy2", "shutil.copytree", "shutil.chown"}
UNSAFE_LOAD = {"pickle.load", "pickle.loads", "cPickle.load", "dill.load", "dill.loads", "joblib.load",
               "cloudpickle.load", "cloudpickle.loads", "shelve.open", "yaml.load", "yaml.unsafe_load", "torch.load",
               "numpy.load", "jsonpickle.decode"}


class _Visitor(ast.NodeVisitor):
    def __init__(self):
        self.alias: dict[str, str] = {}
        self.hits: list[tuple[str, str, str, int]] = []  # (rule, severity, what, line)
        self.imports: set[str] = set()
        self.depth = 0

    def hit(self, rule: str, sev: str, what: str, node: ast.AST) -> None:
        self.hits.append((rule, sev, what, getattr(node, "lineno", 0)))

    def visit_Import(self, node: ast.Import) -> None:
        for a in node.names:
            if a.asname:
                self.alias[a.asname] = a.name
            else:
                root = a.name.split(".")[0]
                self.alias[root] = root
            self._import(a.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        mod = node.module or ""
        for a in node.names:
            self.alias[a.asname or a.name] = f"{mod}.{a.name}" if mod else a.name
        self._import(mod, node)

    def _import(self, mod: str, node) -> None:
        self.imports.add(mod)
        if mod.split(".")[0] in NETWORK_MODULES:
            self.hit("code.network", "medium", f"imports {mod}", node)
        if mod.split(".")[0] in ("ctypes", "cffi"):
            self.hit("code.native", "high", f"imports {mod}", node)

    def name_of(self, node: ast.AST) -> str | None:
        if isinstance(node, ast.Name):
            return self.alias.get(node.id, node.id)
        if isinstance(node, ast.Attribute):
            base = self.name_of(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Call):
            inner = self.name_of(node.func)
            return f"{inner}()" if inner else None
        return None

    def visit_Call(self, node: ast.Call) -> None:
        name = self.name_of(node.func) or ""
        short = name.split("(")[0]
        if short in PROCESS or short.startswith(PROCESS_PREFIX):
            self.hit("code.process_exec", "high", f"calls {short}", node)
        elif short in DYNAMIC or short.endswith((".eval", ".exec")) and short.startswith("builtins"):
            decoded = any(self.name_of(c.func) in DECODERS for c in ast.walk(node) if isinstance(c, ast.Call) and c is not node)
            if decoded and short in ("eval", "exec", "compile", "builtins.eval", "builtins.exec", "marshal.loads"):
                self.hit("code.obfuscated_exec", "critical", f"{short} of decoded data", node)
            else:
                self.hit("code.dynamic_code", "high", f"calls {short}", node)
        elif short in ("getattr", "setattr") and len(node.args) >= 2 and isinstance(node.args[1], ast.Constant) \
                and isinstance(node.args[1].value, str) and node.args[1].value in ("system", "popen", "exec", "eval", "__import__", "spawn"):
            self.hit("code.dynamic_code", "high", f"{short}(..., {node.args[1].value!r})", node)
        elif short in WRITE_CALLS or short.endswith((".write_text", ".write_bytes", ".unlink", ".rmdir", ".chmod")):
            self.hit("code.file_write", "medium", f"calls {short}", node)
        elif short == "open" and _write_mode(node):
            target = node.args[0] if node.args else None
            abs_path = isinstance(target, ast.Constant) and isinstance(target.value, str) and target.value.startswith(("/", "~"))
            self.hit("code.file_write", "high" if abs_path else "medium", "open(..., write mode)", node)
        elif short in UNSAFE_LOAD:
            if short == "torch.load" and any(k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True for k in node.keywords):
                pass
            else:
                self.hit("code.unsafe_deserialization", "medium", f"calls {short}", node)
        elif short.split(".")[0] in NETWORK_MODULES and "." in short:
            self.hit("code.network", "medium", f"calls {short}", node)
        elif short in ("os.environ.get", "os.getenv") or short.startswith("os.environ"):
            self.hit("code.env_access", "low", f"reads environment via {short}", node)
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if node.attr in ("__globals__", "__builtins__", "__subclasses__", "__code__", "__reduce__", "f_globals", "gi_frame"):
            self.hit("code.dynamic_code", "high", f"accesses .{node.attr}", node)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and len(node.value) >= 20:
            for kind, excerpt in patterns.find_code(node.value)[:1]:
                if kind.startswith("base64-encoded"):
                    self.hit("code.encoded_payload", "high", f"{kind} in a string literal: {excerpt[:80]}", node)


def _write_mode(node: ast.Call) -> bool:
    mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"), None)
    return isinstance(mode, ast.Constant) and isinstance(mode.value, str) and any(c in mode.value for c in "wax+")


SEVERITY_TITLES = {
    "code.process_exec": "Python code starts processes",
    "code.obfuscated_exec": "Python code executes decoded/obfuscated code",
    "code.dynamic_code": "Python code runs dynamically built code",
    "code.file_write": "Python code writes or deletes files",
    "code.network": "Python code uses the network",
    "code.native": "Python code loads native libraries",
    "code.unsafe_deserialization": "Python code unpickles data",
    "code.env_access": "Python code reads environment variables (tokens?)",
    "code.encoded_payload": "Python code carries an encoded payload",
}


@register("python")
def scan(sc: "ScanContext", blob: "Blob") -> dict[str, Any]:
    if blob.size is not None and blob.size > MAX_SOURCE:
        raise ResourceLimitError(f"{blob.name}: Python file larger than {MAX_SOURCE} bytes was not parsed")
    with blob.open() as f:
        raw = f.read(MAX_SOURCE + 1)
    from . import text_scan

    text_scan.secrets_in(sc, blob)
    digest = hashlib.sha256(raw).hexdigest()
    entry: dict[str, Any] = {"path": blob.name, "sha256": digest, "size": len(raw)}
    sc.python_files.append(entry)
    try:
        tree = ast.parse(raw, filename=blob.name)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        sc.add("code.parse_error", "medium", "Python file does not parse (cannot be reviewed by AST)",
               {"error": str(e)[:200]}, blob.name)
        entry["parses"] = False
        return {"sha256": digest}
    v = _Visitor()
    try:
        v.visit(tree)
    except RecursionError:
        sc.add("code.parse_error", "medium", "Python file nests too deeply to review", {}, blob.name)
    for rule, sev, what, line in v.hits[:200]:
        sc.add(rule, sev, SEVERITY_TITLES.get(rule, rule), {"what": what, "line": line}, blob.name, f"line {line}", key=what)
    entry["imports"] = sorted(i for i in v.imports if i)[:100]
    return {"sha256": digest, "calls_flagged": len(v.hits)}

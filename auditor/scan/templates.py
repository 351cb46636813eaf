"""Jinja chat templates: find SSTI gadgets and hidden injected text by parsing, never rendering.

Hidden-text heuristic (documented for reviewers): every literal the template can emit (TemplateData
nodes and string constants written by `{{ ... }}` or `{% set %}`) is stripped of scaffolding
(special tokens like `<|im_start|>`, `[INST]`, `<<SYS>>`, tags, role words, punctuation). What is
left is judged by whether a *plain chat* emits it: no tools/documents, add_generation_prompt true,
any role. Tests about roles/loop/generation prompt count as scaffolding (taken for some message in
every chat); tests on tools/documents/other switches are evaluated with those unset. A literal in
the branch taken when the user supplies no system message (the sibling branch prints the message
content) is a default system prompt. Then:
  - emitted in every plain chat and instruction-like (imperatives, "you are", URLs/domains) with
    >= 3 words -> `template.hidden_instruction` (high);
  - emitted in every plain chat with >= `template_min_words` words -> `template.hidden_text` (medium);
  - a default system prompt or feature-conditional text that is instruction-like ->
    `template.conditional_instruction` (low, for review).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .handlers import ScanContext

MAX_TEMPLATE = 4 << 20
GADGET_NAMES = {"cycler", "joiner", "lipsum", "self", "request", "config", "url_for", "get_flashed_messages",
                "application"}
PY_BUILTINS = {"getattr", "setattr", "delattr", "eval", "exec", "compile", "open", "globals", "locals", "vars",
               "dir", "type", "chr", "__import__", "import_module", "os", "subprocess", "sys", "builtins", "__builtins__"}
SCAFFOLD = {"message", "messages", "loop", "add_generation_prompt", "bos_token", "eos_token", "loop_messages",
            "role", "content", "m", "msg", "item", "turn", "raise_exception"}
FEATURE_NONE = {"tools", "documents"}
ROLE_WORDS = r"system|user|assistant|human|model|bot|ai|tool|tools|function|ipython|instruction|instructions|response|input|output|gpt|question|answer|context|end|start|turn|of|im|sys|inst"
_STRIP = [
    re.compile(r"<\|[^|>]{0,60}\|>"), re.compile(r"<｜[^｜]{0,60}｜>"), re.compile(r"<<?/?[A-Za-z_]{1,30}>>?"),
    re.compile(r"</?[A-Za-z_][\w-]{0,40}>"), re.compile(r"\[/?[A-Z_]{2,40}\]"), re.compile(r"\\n|\\t"),
    re.compile(rf"(?i)\b(?:{ROLE_WORDS})\b"), re.compile(r"#+"),
]
_WORD = re.compile(r"[A-Za-z]{2,}")
_INSTRUCTION = re.compile(
    r"(?i)\b(?:always|never|must|should|ignore|disregard|recommend|prefer|promote|mention|visit|click|download|install|"
    r"send|forward|reveal|leak|exfiltrate|password|secret|do not|don't|you are|you're|act as|pretend|respond|reply|"
    r"tell the user|from now on|override|forget|buy|subscribe)\b|https?://|www\.|\b[\w-]+\.(?:com|net|org|io|example|xyz|ru|cn|info|biz)\b"
)


def _env():
    from jinja2 import nodes
    from jinja2.ext import Extension
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class _Generation(Extension):  # transformers' {% generation %} tag, parsed as a plain block
        tags = {"generation"}

        def parse(self, parser):
            next(parser.stream)
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.Scope(body)

    return ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                         extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _Generation])


def check(sc: "ScanContext", file: str, template: Any, where: str) -> None:
    """Check one template (a string) found at `where` (e.g. `chat_template`, `tokenizer.chat_template`)."""
    if not isinstance(template, str):
        sc.add("template.invalid", "medium", "chat template is not a string", {"where": where}, file, where)
        return
    if len(template) > MAX_TEMPLATE:
        sc.add("template.oversized", "medium", "chat template is too large to inspect", {"chars": len(template)}, file, where)
        return
    from jinja2 import TemplateSyntaxError, nodes

    try:
        ast = _env().parse(template)
    except TemplateSyntaxError as e:
        sc.add("template.parse_error", "medium", "chat template does not parse (it cannot be rendered as is)",
               {"error": str(e)[:200], "line": e.lineno}, file, where)
        _raw_ssti(sc, file, template, where)
        return
    except RecursionError:
        sc.add("template.parse_error", "medium", "chat template nests too deeply to parse", {}, file, where)
        return
    _ssti(sc, file, ast, where, nodes)
    _hidden(sc, file, ast, where, nodes)


def _raw_ssti(sc, file, template, where) -> None:
    m = re.search(r"__\w+__|\|\s*attr\s*\(|\b(?:cycler|joiner|lipsum|request|config)\b", template)
    if m:
        sc.add("template.ssti", "high", "unparseable template contains template-injection patterns",
               {"pattern": m.group(0)}, file, where)


def _ssti(sc: "ScanContext", file: str, ast, where: str, nodes) -> None:
    hits: list[tuple[str, str, int]] = []

    def hit(sev: str, what: str, node) -> None:
        if what not in {h[1] for h in hits}:
            hits.append((sev, what, node.lineno))

    for node in ast.find_all(nodes.Node):
        if isinstance(node, nodes.Getattr):
            if node.attr.startswith("_") or node.attr in ("mro", "func_globals", "gi_frame", "f_globals"):
                hit("critical", f".{node.attr}", node)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
            if node.arg.value.startswith("_"):
                hit("critical", f"[{node.arg.value!r}]", node)
        elif isinstance(node, nodes.Filter) and node.name == "attr":
            arg = node.args[0] if node.args else None
            if isinstance(arg, nodes.Const) and isinstance(arg.value, str):
                hit("critical" if arg.value.startswith("_") or arg.value == "mro" else "high", f"|attr({arg.value!r})", node)
            else:
                hit("high", "|attr(<computed name>)", node)
        elif isinstance(node, nodes.Name) and node.ctx == "load":
            if node.name in GADGET_NAMES:
                hit("high", f"global {node.name!r}", node)
            elif node.name in PY_BUILTINS or node.name.startswith("__"):
                hit("critical" if node.name.startswith("__") else "high", f"python builtin {node.name!r}", node)
        elif isinstance(node, nodes.Const) and isinstance(node.value, str) and re.search(r"__\w+__", node.value):
            hit("critical", f"dunder string {node.value[:40]!r}", node)
        elif isinstance(node, (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            hit("high", f"{type(node).__name__.lower()} of another template", node)
    if hits:
        sev = "critical" if any(h[0] == "critical" for h in hits) else "high"
        sc.add("template.ssti", sev, "template injection (SSTI) gadgets: rendering this template can run code",
               {"patterns": [h[1] for h in hits[:20]], "line": hits[0][2]}, file, f"{where}:{hits[0][2]}", key=where)


# -- hidden text -----------------------------------------------------------------------------------
def _names(node, nodes) -> set[str]:
    return {n.name for n in node.find_all(nodes.Name)} | ({node.name} if isinstance(node, nodes.Name) else set())


def _truth(test, nodes) -> bool | None:
    """Truth of an `if` test in a plain chat: tools/documents None, other switches undefined."""
    if isinstance(test, nodes.Not):
        v = _truth(test.node, nodes)
        return None if v is None else not v
    if isinstance(test, (nodes.And, nodes.Or)):
        a, b = _truth(test.left, nodes), _truth(test.right, nodes)
        if isinstance(test, nodes.And):
            return False if False in (a, b) else (True if a is True and b is True else None)
        return True if True in (a, b) else (False if a is False and b is False else None)
    if isinstance(test, nodes.Name):
        if test.name == "add_generation_prompt":
            return True
        return None if test.name in SCAFFOLD else False
    if isinstance(test, nodes.Test) and isinstance(test.node, nodes.Name) and test.node.name not in SCAFFOLD:
        defined = test.node.name in FEATURE_NONE
        if test.name == "defined":
            return defined
        if test.name == "undefined":
            return not defined
        if test.name == "none":
            return defined
        return None
    if _names(test, nodes) and _names(test, nodes) <= SCAFFOLD:
        return None
    if isinstance(test, (nodes.Getattr, nodes.Getitem, nodes.Filter)) and _names(test, nodes) & FEATURE_NONE:
        return False
    return None


def _is_scaffold(test, nodes) -> bool:
    return _names(test, nodes) <= SCAFFOLD


def _refs_content(body, nodes) -> bool:
    for n in body:
        for c in n.find_all((nodes.Const, nodes.Name, nodes.Getattr)):
            if (isinstance(c, nodes.Const) and c.value == "content") or getattr(c, "attr", None) == "content" \
                    or getattr(c, "name", None) in ("system_message", "system_prompt"):
                return True
    return False


def _collect(body, nodes, plain: bool, fallback: bool, out: list) -> None:
    """Walk statements, tracking whether a plain chat reaches them and whether they are a default prompt."""
    for node in body:
        if isinstance(node, nodes.Output):
            for child in node.nodes:
                for text, line in _literals(child, nodes):
                    out.append((text, line, plain, fallback))
        elif isinstance(node, nodes.Assign) and isinstance(node.node, (nodes.Const, nodes.Add, nodes.Concat)):
            for text, line in _literals(node.node, nodes):
                out.append((text, line, False, fallback))
        elif isinstance(node, nodes.If):
            _collect_if(node, nodes, plain, fallback, out)
        elif isinstance(node, nodes.For):
            feature = bool(_names(node.iter, nodes) & FEATURE_NONE)
            _collect(node.body, nodes, plain and not feature, fallback, out)
            _collect(node.else_, nodes, False, fallback, out)
        elif isinstance(node, (nodes.Macro, nodes.CallBlock)):
            _collect(node.body, nodes, False, fallback, out)
        elif hasattr(node, "body") and isinstance(getattr(node, "body"), list):
            _collect(node.body, nodes, plain, fallback, out)


def _collect_if(node, nodes, plain: bool, fallback: bool, out: list) -> None:
    branches = [(node.test, node.body)] + [(e.test, e.body) for e in node.elif_]
    prior_false = True
    system_test = any(isinstance(c, nodes.Const) and c.value == "system" for c in node.test.find_all(nodes.Const))
    for i, (test, body) in enumerate(branches):
        t = _truth(test, nodes)
        reach = plain and prior_false and (t is True or (t is None and _is_scaffold(test, nodes)))
        siblings = [b for j, (_, b) in enumerate(branches) if j != i] + [node.else_]
        fb = fallback or (system_test and not _refs_content(body, nodes) and any(_refs_content(s, nodes) for s in siblings))
        _collect(body, nodes, reach, fb, out)
        if t is True:
            prior_false = False
    if node.else_:
        ts = [_truth(t, nodes) for t, _ in branches]
        reach = plain and all(v is not True for v in ts) and all(v is False or (v is None and _is_scaffold(t, nodes)) for v, (t, _) in zip(ts, branches))
        fb = fallback or (system_test and not _refs_content(node.else_, nodes) and any(_refs_content(b, nodes) for _, b in branches))
        _collect(node.else_, nodes, reach, fb, out)


def _literals(expr, nodes):
    if isinstance(expr, nodes.TemplateData):
        yield expr.data, expr.lineno
    elif isinstance(expr, nodes.Const) and isinstance(expr.value, str):
        yield expr.value, expr.lineno
    elif isinstance(expr, (nodes.Add, nodes.Concat)):
        for part in ([expr.left, expr.right] if isinstance(expr, nodes.Add) else expr.nodes):
            yield from _literals(part, nodes)
    elif isinstance(expr, nodes.CondExpr):
        yield from _literals(expr.expr1, nodes)
        if expr.expr2 is not None:
            yield from _literals(expr.expr2, nodes)
    elif isinstance(expr, nodes.Filter) and expr.node is not None and expr.name in ("trim", "upper", "lower", "capitalize"):
        yield from _literals(expr.node, nodes)


def strip_scaffolding(text: str) -> str:
    for rx in _STRIP:
        text = rx.sub(" ", text)
    return text


def _hidden(sc: "ScanContext", file: str, ast, where: str, nodes) -> None:
    found: list = []
    _collect(ast.body, nodes, True, False, found)
    min_words = int(sc.settings.get("template_min_words", 6))
    for text, line, plain, fallback in found:
        rest = strip_scaffolding(text)
        words = _WORD.findall(rest)
        instr = _INSTRUCTION.search(rest)
        excerpt = " ".join(text.split())[:200]
        ev = {"text": excerpt, "words": len(words), "line": line}
        if plain and not fallback and instr and len(words) >= 3:
            sc.add("template.hidden_instruction", "high",
                   "chat template injects an instruction into every conversation", {**ev, "trigger": instr.group(0)},
                   file, f"{where}:{line}", key=excerpt)
        elif plain and not fallback and len(words) >= min_words:
            sc.add("template.hidden_text", "medium", "chat template adds fixed text to every conversation", ev,
                   file, f"{where}:{line}", key=excerpt)
        elif instr and len(words) >= 3:
            sc.add("template.conditional_instruction", "low",
                   "chat template carries a default system prompt or conditional instruction", {**ev, "trigger": instr.group(0)},
                   file, f"{where}:{line}", key=excerpt)

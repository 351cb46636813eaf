"""Jinja chat templates: SSTI gadgets found by parsing, injected text found by rendering.

SSTI: the template's AST is walked for attribute escapes, Python builtins and jinja gadgets; a template
with such gadgets is reported and never rendered.

Injected text: the template is rendered in a bounded sandbox (`template_sandbox`) with canned
conversations whose contents are sentinels (`template_probe`); what remains after cutting out the
messages, special tokens and role scaffolding is text the template adds by itself. It is judged by
content and by when it appears:
  - in conversations WITH a user system message (every conversation): instruction-like (imperatives,
    "you are", URLs/domains, >= 3 words) or override language -> `template.hidden_instruction` (high);
    other text of >= `template_min_words` words -> `template.hidden_text` (medium);
  - only WITHOUT a system message: a default system prompt of >= `template_min_words` words ->
    `template.default_system_prompt` (low); with override language ("ignore previous instructions",
    exfiltrate...) -> `template.hidden_instruction` (high);
  - only WITH tools: a tool preamble of >= `template_min_words` words -> `template.tool_preamble` (info);
    with override language -> `template.tool_override` (high);
  - "Key: value" lines such as Llama 3.1's `Cutting Knowledge Date` / `Today Date` are metadata, not
    instructions -> `template.fixed_metadata` (info);
  - a template that renders the system message without its content -> `template.system_prompt_dropped`
    (medium); one that fails every conversation -> `template.render_error` (medium); one that runs past
    a bound -> `template.render_limit` (medium);
  - override language in template text no canned conversation rendered (a branch keyed on something the
    probe does not send) -> `template.unrendered_override` (medium), found in the template's literals.
A template that refuses system messages has its always-present text judged as "every conversation".
Equal templates (same rendered output) therefore get equal findings, however the text is spelled.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .template_probe import (MAX_TEXTS, NO_SYSTEM, ROLE_WORDS, TOKEN_SHAPES, TOOL_VOCABULARY, WITH_SYSTEM, Probe, probe,
                             readable, special_tokens)
from .template_sandbox import SAFE_JINJA, Bounds, BoundedSandbox

if TYPE_CHECKING:
    from .handlers import ScanContext

MAX_TEMPLATE = 4 << 20
BOUNDS = Bounds()
GADGET_NAMES = {"cycler", "joiner", "lipsum", "self", "request", "config", "url_for", "get_flashed_messages",
                "application"}
PY_BUILTINS = {"getattr", "setattr", "delattr", "eval", "exec", "compile", "open", "globals", "locals", "vars",
               "dir", "type", "chr", "__import__", "import_module", "os", "subprocess", "sys", "builtins", "__builtins__"}
# Words of chat scaffolding beyond role names (ChatML's im_start, Gemma's start_of_turn, Llama 2's INST/SYS)
_SCAFFOLD_WORDS = "|".join(ROLE_WORDS + ("end", "start", "turn", "of", "im", "sys", "inst"))
_STRIP = [TOKEN_SHAPES, re.compile(r"\\n|\\t"), re.compile(rf"(?i)\b(?:{_SCAFFOLD_WORDS})\b"), re.compile(r"#+")]
_WORD = re.compile(r"[A-Za-z]{2,}")
_INSTRUCTION = re.compile(
    r"(?i)\b(?:always|never|must|should|ignore|disregard|recommend|prefer|promote|mention|visit|click|download|install|"
    r"send|forward|reveal|leak|exfiltrate|password|secret|do not|don't|you are|you're|act as|pretend|respond|reply|"
    r"tell the user|from now on|override|forget|buy|subscribe)\b|https?://|www\.|\b[\w-]+\.(?:com|net|org|io|example|xyz|ru|cn|info|biz)\b"
)
# Language that turns a template against its user: overriding instructions, exfiltration, secrecy.
_OVERRIDE = re.compile(
    r"(?i)\b(?:ignore|disregard|forget|override)\b.{0,40}?\b(?:instructions?|prompts?|rules|guidelines|system messages?)\b|"
    r"\bexfiltrat\w*|\b(?:send|forward|upload|post|leak|reveal|email)\b.{0,60}?\b(?:passwords?|secrets?|credentials?|"
    r"api[ _-]?keys?|tokens?|system prompt|conversations?|chat history|user data|personal data)\b|"
    r"\b(?:without|never) (?:telling|informing|notifying|tell|inform) the user\b|\bdo not (?:tell|inform) the user\b|"
    r"\bnew instructions\b|\bjailbreak"
)
# "Key: value" lines (dates, environment names): metadata the template states, not instructions.
_METADATA_LINE = re.compile(r"^[A-Z][A-Za-z ]{0,40}:[ \t]*[\w ,./-]{1,60}$")


def _env() -> BoundedSandbox:
    return BoundedSandbox(BOUNDS)


def check(sc: "ScanContext", file: str, template: Any, where: str, tokens: dict[str, str] | None = None) -> None:
    """Check one template (a string) found at `where` (e.g. `chat_template`, `tokenizer.chat_template`).

    `tokens` are the special-token strings of the tokenizer the template belongs to (defaults otherwise)."""
    if not isinstance(template, str):
        sc.add("template.invalid", "medium", "chat template is not a string", {"where": where}, file, where)
        return
    if len(template) > MAX_TEMPLATE:
        sc.add("template.oversized", "medium", "chat template is too large to inspect", {"chars": len(template)}, file, where)
        return
    from jinja2 import TemplateSyntaxError, nodes

    env = _env()
    try:
        ast = env.parse(template)
    except TemplateSyntaxError as e:
        sc.add("template.parse_error", "medium", "chat template does not parse (it cannot be rendered as is)",
               {"error": str(e)[:200], "line": e.lineno}, file, where)
        _raw_ssti(sc, file, template, where)
        return
    except RecursionError:
        sc.add("template.parse_error", "medium", "chat template nests too deeply to parse", {}, file, where)
        return
    if _ssti(sc, file, ast, where, nodes):
        return  # a template with injection gadgets is hostile: it is reported, never rendered
    if not SAFE_JINJA:
        sc.report.error(f"{file}: {where} not rendered: jinja2 older than 3.1.6 has sandbox escapes")
        return
    result = probe(env, template, tokens or special_tokens(None), BOUNDS, _judgeable)
    _judge(sc, file, where, result, int(sc.settings.get("template_min_words", 6)))
    _unrendered_override(sc, file, where, ast, nodes, result)


def _raw_ssti(sc, file, template, where) -> None:
    m = re.search(r"__\w+__|\|\s*attr\s*\(|\b(?:cycler|joiner|lipsum|request|config)\b", template)
    if m:
        sc.add("template.ssti", "high", "unparseable template contains template-injection patterns",
               {"pattern": m.group(0)}, file, where)


def _ssti(sc: "ScanContext", file: str, ast, where: str, nodes) -> bool:
    """Report SSTI gadgets; True when there were any."""
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
    return bool(hits)


# -- injected text ---------------------------------------------------------------------------------
def strip_scaffolding(text: str) -> str:
    for rx in _STRIP:
        text = rx.sub(" ", text)
    return text


def _words(text: str) -> list[str]:
    return [w for w in _WORD.findall(strip_scaffolding(text)) if w.lower() not in TOOL_VOCABULARY]


def _judgeable(text: str) -> bool:
    """Texts worth judging: three words beyond scaffolding, or override language."""
    return len(_words(text)) >= 3 or bool(_OVERRIDE.search(text))


def _is_metadata(text: str) -> bool:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return bool(lines) and all(_METADATA_LINE.match(ln) for ln in lines)


def _judge(sc: "ScanContext", file: str, where: str, pr: Probe, min_words: int) -> None:
    if pr.limit:
        sc.add("template.render_limit", "medium", "chat template exceeds the rendering limits (its output is unknown)",
               {"limit": pr.limit, "rendered": sorted(pr.renders), "bounds": vars(BOUNDS)}, file, where)
        return
    if not pr.renders:
        sc.add("template.render_error", "medium", "chat template fails to render any conversation",
               {"errors": dict(sorted(pr.failures.items()))}, file, where)
        return
    if pr.texts_found > MAX_TEXTS:
        sc.add("template.render_limit", "medium", "chat template writes more distinct text than is judged",
               {"limit": f"{pr.texts_found} texts, the first {MAX_TEXTS} judged", "rendered": sorted(pr.renders)}, file, where)
    if pr.drops_system_message():
        conv = next(c for c in WITH_SYSTEM if c in pr.renders)
        sc.add("template.system_prompt_dropped", "medium", "chat template leaves the user's system message out",
               {"rendered": pr.excerpt("", conv)}, file, where)
    for added in pr.added:
        _judge_text(sc, file, where, pr, added.text, added.seen_in, min_words)


def _judge_text(sc, file: str, where: str, pr: Probe, text: str, seen_in: list[str], min_words: int) -> None:
    words = _words(text)
    instr, override = _INSTRUCTION.search(text), _OVERRIDE.search(text)
    with_sys = [c for c in WITH_SYSTEM if c in seen_in]
    every = set(pr.plain) <= set(seen_in)
    # A template that refuses system messages must not turn "every conversation" into "a default prompt".
    rejects_system = not any(c in pr.renders for c in WITH_SYSTEM)
    if with_sys or (every and rejects_system):
        condition = "always" if every else "with a system message"
        with_sys = with_sys or list(pr.plain)
    elif any(c in seen_in for c in NO_SYSTEM):
        condition = "no system message"
    else:
        condition = "with tools"
    excerpt = readable(" ".join(text.split()))[:200]
    ev: dict[str, Any] = {"text": excerpt, "words": len(words), "condition": condition, "conversations": seen_in,
                          "rendered": pr.excerpt(text, seen_in[0])}
    if with_sys and pr.position(text, with_sys[0]):
        ev["position"] = pr.position(text, with_sys[0])
    if override:
        ev["override"] = override.group(0)[:80]
    elif instr:
        ev["trigger"] = instr.group(0)

    def add(rule: str, severity: str, title: str) -> None:
        sc.add(rule, severity, title, ev, file, where, key=(where, excerpt))

    if override and condition == "with tools":
        add("template.tool_override", "high", "chat template's tool preamble carries override instructions")
    elif override or (with_sys and instr and len(words) >= 3):
        add("template.hidden_instruction", "high", "chat template injects an instruction into every conversation"
            if with_sys else "chat template's default system prompt carries override instructions")
    elif _is_metadata(text):
        add("template.fixed_metadata", "info", "chat template states metadata (e.g. dates) in the prompt")
    elif len(words) < min_words:
        return
    elif with_sys:
        add("template.hidden_text", "medium", "chat template adds fixed text to every conversation")
    elif condition == "no system message":
        add("template.default_system_prompt", "low", "chat template has a default system prompt (used when the user gives none)")
    else:
        add("template.tool_preamble", "info", "chat template adds a tool-use preamble when tools are given")


def _unrendered_override(sc, file: str, where: str, ast, nodes, pr: Probe) -> None:
    """Rendering only sees the branches the canned conversations reach; override language hidden in
    another branch is still reported from the template's literals (defence in depth, by content)."""
    rendered = " ".join(" ".join(out.split()).lower() for out in pr.renders.values())
    for node in ast.find_all((nodes.TemplateData, nodes.Const)):
        text = node.data if isinstance(node, nodes.TemplateData) else node.value
        m = _OVERRIDE.search(text) if isinstance(text, str) else None
        if m and " ".join(m.group(0).split()).lower() not in rendered:
            excerpt = " ".join(text.split())[:200]
            sc.add("template.unrendered_override", "medium",
                   "chat template holds override instructions in a branch the probe conversations did not reach",
                   {"text": excerpt, "override": m.group(0)[:80], "line": node.lineno}, file, f"{where}:{node.lineno}",
                   key=(where, excerpt))

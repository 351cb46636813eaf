"""Regexes for secrets and for code hidden in strings (metadata, pickle strings, config values)."""

from __future__ import annotations

import base64
import binascii
import re

# (rule suffix, severity, regex). Provider formats are strict, so they are high; generic ones medium.
SECRET_RULES: list[tuple[str, str, re.Pattern]] = [
    ("huggingface_token", "high", re.compile(r"\bhf_[A-Za-z0-9]{34,40}\b")),
    ("aws_access_key", "high", re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b")),
    ("aws_secret_key", "high", re.compile(r"(?i)aws.{0,20}secret.{0,20}['\"=:\s]([A-Za-z0-9/+]{40})\b")),
    ("github_token", "high", re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b")),
    ("openai_key", "high", re.compile(r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}T3BlbkFJ[A-Za-z0-9_-]{20,}|\bsk-proj-[A-Za-z0-9_-]{40,}|\bsk-[A-Za-z0-9]{48}\b")),
    ("anthropic_key", "high", re.compile(r"\bsk-ant-[A-Za-z0-9_-]{32,}")),
    ("private_key", "high", re.compile(r"-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----")),
    ("slack_token", "high", re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{10,}")),
    ("google_api_key", "high", re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("stripe_key", "high", re.compile(r"\b[sr]k_live_[0-9a-zA-Z]{24,}")),
    ("jwt", "medium", re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}")),
]

CODE_RULES: list[tuple[str, re.Pattern]] = [
    ("python import", re.compile(r"(?:^|[;\n])\s*(?:import\s+[A-Za-z_][\w.]*|from\s+[A-Za-z_][\w.]*\s+import\s+\w)")),
    ("__import__", re.compile(r"__import__\s*\(")),
    ("os/subprocess call", re.compile(r"\b(?:os\.(?:system|popen|exec\w*|spawn\w*)|subprocess\.\w+|commands\.getoutput|pty\.spawn)\s*\(")),
    ("eval/exec", re.compile(r"(?<![.\w])(?:eval|exec|compile|execfile)\s*\(")),
    ("decode-and-run", re.compile(r"\b(?:base64\.b64decode|b64decode|marshal\.loads|pickle\.loads|zlib\.decompress|codecs\.decode)\s*\(")),
    ("shell command", re.compile(r"(?:\brm\s+-rf\b|\b(?:curl|wget)\s+(?:-\S+\s+)*(?:[a-z]+://|\S+\.\S+/|-)|\bchmod\s+[0-7+]|"
                                 r"/bin/(?:ba|z)?sh\b|\bnc\s+-[elp]|\bpowershell\b|\bbash\s+-c\b|\|\s*(?:ba|z)?sh\b)")),
    ("script tag", re.compile(r"(?i)<script\b|javascript:|document\.cookie|onerror\s*=")),
    ("dunder escape", re.compile(r"__(?:class|subclasses|globals|builtins|mro|bases|reduce|reduce_ex)__")),
    ("python lambda", re.compile(r"(?<![\w.])lambda\s+\*{0,2}[A-Za-z_]\w*(?:\s*,\s*\*{0,2}[A-Za-z_]\w*)*\s*:")),
    # protocol-0 pickle text: the GLOBAL opcode `c` followed by "module\nname\n" of a module that runs things
    ("pickle global opcode", re.compile(r"(?:^|[\n(.])c(?:os|posix|nt|subprocess|builtins|__builtin__|runpy|pty|socket|sys|"
                                        r"importlib|shutil|webbrowser)\n\w+\n")),
]

URL_RE = re.compile(r"\bhttps?://[^\s'\"<>]+")
BASE64_RE = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
HEX_PICKLE_RE = re.compile(r"(?:\\x)?80(?:\\x)?0[2-5](?:(?:\\x)?[0-9a-fA-F]{2}){8,}")


def redact(secret: str) -> str:
    """Keep enough to recognise the secret, never the secret itself."""
    if len(secret) <= 10:
        return secret[:2] + "…"
    return f"{secret[:6]}…{secret[-2:]} ({len(secret)} chars)"


_SECRET_HINT = re.compile(r"hf_|AKIA|ASIA|gh[pousr]_|github_pat_|sk-|PRIVATE KEY|xox[baprs]-|AIza|_live_|eyJ|(?i:aws)")


def find_secrets(text: str, limit: int = 20) -> list[tuple[str, str, str, int]]:
    """Return (rule suffix, severity, redacted match, char offset) for secrets in text."""
    out: list[tuple[str, str, str, int]] = []
    if not _SECRET_HINT.search(text):
        return out
    for rule, sev, rx in SECRET_RULES:
        for m in rx.finditer(text):
            value = m.group(1) if m.groups() else m.group(0)
            if rule != "private_key" and len(set(value)) < 8:
                continue  # placeholders like hf_XXXXXXXX
            out.append((rule, sev, redact(value), m.start()))
            if len(out) >= limit:
                return out
    return out


def find_code(text: str) -> list[tuple[str, str]]:
    """Return (kind, excerpt) for code-like content in a string, also looking inside base64 blobs."""
    return [(kind, excerpt) for kind, _, excerpt in code_hits(text)]


def code_hits(text: str) -> list[tuple[str, str, str]]:
    """Return (kind, matched text, excerpt) for code-like content, also looking inside base64 blobs."""
    hits = []
    for kind, rx in CODE_RULES:
        m = rx.search(text)
        if m:
            hits.append((kind, m.group(0)[:80], _excerpt(text, m.start())))
    for m in HEX_PICKLE_RE.finditer(text[:1_000_000]):
        hits.append(("hex-encoded pickle", m.group(0)[:60], m.group(0)[:60]))
        break
    for m in BASE64_RE.finditer(text[:1_000_000]):
        decoded = decode_base64(m.group(0))
        if decoded is None:
            continue
        if decoded[:1] == b"\x80" and decoded[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
            hits.append(("base64-encoded pickle", m.group(0)[:60], m.group(0)[:60]))
            continue
        try:
            inner = decoded.decode("utf-8")
        except UnicodeDecodeError:
            continue
        for kind, rx in CODE_RULES:
            inner_m = rx.search(inner)
            if inner_m:
                hits.append((f"base64-encoded {kind}", inner_m.group(0)[:80], inner[:120]))
                break
    return hits


def decode_base64(s: str) -> bytes | None:
    try:
        return base64.b64decode(s + "=" * (-len(s) % 4), validate=True)
    except (binascii.Error, ValueError):
        return None


def _excerpt(text: str, pos: int, width: int = 80) -> str:
    lo = max(0, pos - 20)
    return text[lo:lo + width].replace("\n", "\\n")

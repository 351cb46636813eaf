"""Render an untrusted chat template the way transformers does, inside hard bounds.

The environment is jinja2's ImmutableSandboxedEnvironment (no loader, so no include/import of files)
with the globals and filters transformers gives chat templates (`raise_exception`, `strftime_now`
fixed to a constant date so renders are deterministic, `tojson` without HTML escaping, `namespace`).
Templates from a model repository are hostile input, so on top of the sandbox every render is bounded:
  - time and steps: a line tracer on the template's own frames stops it after `max_steps` lines or
    `max_seconds` (loops over constants never call back into the sandbox, so only a tracer sees them);
  - size: `+`, `*`, `**`, `%` and `~` refuse results above `max_chars`; calls and filters refuse integer
    arguments above `max_chars` (`center(10**9)`) and results above it; output is streamed and cut at `max_chars`;
  - recursion: RecursionError and MemoryError end the render as a limit, never a crash.
"""

from __future__ import annotations

import functools
import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator
from jinja2.exceptions import SecurityError, TemplateError
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import Namespace

FIXED_NOW = datetime(2025, 1, 15, 9, 30, 0)  # strftime_now: a constant date keeps renders reproducible
# Sandbox escapes were fixed up to jinja2 3.1.6 (transformers refuses older ones for the same reason).
SAFE_JINJA = tuple(int(x) for x in re.findall(r"\d+", jinja2.__version__)[:3]) >= (3, 1, 6)
TEMPLATE_FILENAME = "<template>"  # jinja's filename for templates made from strings: the tracer's target
_WIDE_FORMAT = re.compile(r"%[-+ #0]*(?:\d{7,}|\*)|\{[^{}]*?\d{7,}[^{}]*\}")


class RenderLimit(Exception):
    """The template ran past a bound (time, steps, size, recursion): it is reported, never trusted."""


@dataclass(frozen=True)
class Bounds:
    max_chars: int = 1 << 20
    max_steps: int = 200_000  # real chat templates run a few hundred lines per conversation
    max_seconds: float = 1.0


class _Generation(Extension):
    """transformers' `{% generation %}...{% endgeneration %}` tag: renders its body unchanged."""

    tags = {"generation"}

    def parse(self, parser):
        next(parser.stream)
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return nodes.Scope(body)


class _BoundedCodeGenerator(CodeGenerator):
    """Compile `a ~ b` to a length-checked join (jinja compiles it to a plain str join otherwise)."""

    def visit_Concat(self, node, frame):  # noqa: N802 — jinja's visitor naming
        self.write("environment.bounded_join((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")


class _SafeNamespace(Namespace):
    """`namespace()` that refuses underscore attributes, as transformers' does."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 — Namespace's own signature trick
        self, rest = args[0], args[1:]
        attrs = dict(*rest, **kwargs)
        if any(isinstance(k, str) and k.startswith("_") for k in attrs):
            raise SecurityError("namespace attributes may not start with '_'")
        Namespace.__init__(self, attrs)

    def __setitem__(self, name: Any, value: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise SecurityError("namespace attributes may not start with '_'")
        Namespace.__setitem__(self, name, value)


def _raise_exception(message: Any) -> None:
    raise TemplateError(str(message)[:300])


def _tojson(x: Any, ensure_ascii: bool = False, indent: Any = None, separators: Any = None, sort_keys: bool = False) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with size checks on every operator that can grow a value."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "**", "%"})

    def __init__(self, bounds: Bounds = Bounds()):
        super().__init__(trim_blocks=True, lstrip_blocks=True,
                         extensions=["jinja2.ext.loopcontrols", "jinja2.ext.do", _Generation])
        self.bounds = bounds
        self.filters["tojson"] = _tojson
        self.globals.update(raise_exception=_raise_exception, strftime_now=FIXED_NOW.strftime, namespace=_SafeNamespace)
        # Filters are called directly by compiled code, not through `call`: bound them one by one.
        self.filters = {name: self._bounded(fn) for name, fn in self.filters.items()}

    def _check_args(self, args: tuple, kwargs: dict) -> None:
        cap = self.bounds.max_chars
        for a in (*args, *kwargs.values()):
            if isinstance(a, int) and not isinstance(a, bool) and abs(a) > cap:
                raise RenderLimit(f"argument {a} is too large")
            if isinstance(a, str) and _WIDE_FORMAT.search(a):
                raise RenderLimit("format specification with a huge width")

    def _bounded(self, fn):
        @functools.wraps(fn)  # keeps jinja's pass_context/pass_environment marks
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self._check_args(args, kwargs)
            result = fn(*args, **kwargs)
            self._size(result)
            return result

        return bounded

    def _size(self, value: Any) -> None:
        if isinstance(value, (str, bytes, list, tuple)) and len(value) > self.bounds.max_chars:
            raise RenderLimit(f"a value grew past {self.bounds.max_chars} characters")

    def call_binop(self, context, operator: str, left: Any, right: Any) -> Any:
        cap = self.bounds.max_chars
        if operator == "**" and isinstance(right, (int, float)) and (abs(right) > 64 or (isinstance(left, int) and abs(left) > cap)):
            raise RenderLimit(f"power {right!r} is too large")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int) and len(seq) * max(n, 0) > cap:
                    raise RenderLimit(f"repetition would exceed {cap} characters")
        if operator == "+" and isinstance(left, (str, list, tuple)) and isinstance(right, (str, list, tuple)) \
                and len(left) + len(right) > cap:
            raise RenderLimit(f"concatenation would exceed {cap} characters")
        if operator == "%" and isinstance(left, str) and _WIDE_FORMAT.search(left):
            raise RenderLimit("string format with a huge width")
        result = super().call_binop(context, operator, left, right)
        self._size(result)
        return result

    def call(__self, __context, __obj, *args: Any, **kwargs: Any) -> Any:  # noqa: N805 — sandbox signature
        __self._check_args(args, kwargs)
        if getattr(__obj, "__name__", "") in ("format", "format_map") and isinstance(getattr(__obj, "__self__", None), str) \
                and _WIDE_FORMAT.search(__obj.__self__):
            raise RenderLimit("format specification with a huge width")
        result = super().call(__context, __obj, *args, **kwargs)
        __self._size(result)
        return result

    def bounded_join(self, parts: tuple) -> str:
        total = 0
        out = []
        for p in parts:
            s = str(p)
            total += len(s)
            if total > self.bounds.max_chars:
                raise RenderLimit(f"'~' concatenation would exceed {self.bounds.max_chars} characters")
            out.append(s)
        return "".join(out)


class _Tracer:
    """Counts lines executed in template frames; raises RenderLimit past the step or time budget."""

    def __init__(self, bounds: Bounds):
        self.bounds = bounds
        self.steps = 0
        self.deadline = time.perf_counter() + bounds.max_seconds

    def global_trace(self, frame, event, arg):
        return self.local_trace if frame.f_code.co_filename == TEMPLATE_FILENAME else None

    def local_trace(self, frame, event, arg):
        self.steps += 1
        if self.steps > self.bounds.max_steps:
            raise RenderLimit(f"template ran more than {self.bounds.max_steps} steps")
        if self.steps % 512 == 0 and time.perf_counter() > self.deadline:
            raise RenderLimit(f"template rendered longer than {self.bounds.max_seconds} s")
        return self.local_trace


def render(template, variables: dict[str, Any], bounds: Bounds) -> str:
    """Render a compiled template with `variables`; RenderLimit past a bound, TemplateError on failure."""
    tracer = _Tracer(bounds)
    previous = sys.gettrace()
    out: list[str] = []
    size = 0
    sys.settrace(tracer.global_trace)
    try:
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > bounds.max_chars:
                raise RenderLimit(f"output exceeds {bounds.max_chars} characters")
            out.append(chunk)
    except RecursionError:
        raise RenderLimit("template recursion too deep") from None
    except MemoryError:
        raise RenderLimit("template exhausted memory") from None
    finally:
        sys.settrace(previous)
    return "".join(out)

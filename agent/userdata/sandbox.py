"""A Jinja2 sandbox bounded by the guest's resource limits (user data templates)."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.sandbox import (
    SandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
    safe_range,
)
from jinja2.utils import generate_lorem_ipsum
from markupsafe import Markup

from guestsim.agent.resources import ResourceLimits, TemplateLimitExceeded, expanded_size

# The filter every for loop's iterable passes through (one step of work per item): a name
# no template can define, since filters belong to the environment.
LOOP_FILTER = "guestsim.loop"
_SIZED = (str, bytes, bytearray, list, tuple, dict, set, frozenset)
_CONTAINERS = (list, tuple, dict, set, frozenset)
# Filters that write their value out as text: a container is measured as text first.
_TEXT_FILTERS = frozenset({"string", "tojson", "pprint", "e", "escape", "forceescape", "safe"})
_OPERAND_FILTER = "_guestsim_operand"
_NUMBER = re.compile(r"\d+")
# A printf-style conversion (``%`` and the ``format`` filter): its mapping key, width,
# precision and type. Only these numbers pad the output; the literal text's digits do not.
_CONVERSION = re.compile(r"%(\([^)]*\))?[#0\- +]*(\d+|\*)?(?:\.(\d+|\*)?)?[hlL]?(.?)", re.DOTALL)
# Building a value costs a step per this many characters (or items) of it.
_BYTES_PER_STEP = 64
# Characters lipsum's words may take, at most, each.
_LIPSUM_WORD = 16


class _BoundedCodeGenerator(CodeGenerator):
    """Jinja's code generator, bounding what ``~`` builds."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.bounded_value(")
        super().visit_Concat(node, frame)
        self.write(")")


def _digits(number: str) -> int:
    # Digits beyond any limit are not converted (Python bounds int(str) anyway).
    return int(number) if len(number) < 19 else 10**18


class _SpecBound:
    """A ``str.format`` formatter adding each field's padding (the numbers of its actual
    format spec, nested fields substituted) and text to a running size, checked against
    the output limit before and after each field is formatted."""

    _env: Any
    size = 0

    def format_field(self, value: Any, format_spec: str) -> Any:
        self.size += sum(_digits(number) for number in _NUMBER.findall(format_spec))
        self._env.check_size(self.size, "a format width")
        text = super().format_field(value, format_spec)  # type: ignore[misc]
        self.size += len(text)
        self._env.check_size(self.size, "a formatted string")
        return text


class _BoundedFormatter(_SpecBound, SandboxedFormatter):
    pass


class _BoundedEscapeFormatter(_SpecBound, SandboxedEscapeFormatter):
    pass


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return 0


class BoundedSandbox(SandboxedEnvironment):
    """Jinja's sandbox, bounded by the guest's :class:`ResourceLimits`.

    ``template_output_bytes`` bounds the rendered text and every value computed on the
    way (strings, sequences and mappings by length, integers by bits): checked before an
    operation that would build a larger one (``*``, ``**``, ``+``, ``%``, string padding,
    ``join``, ``replace``, ``format``, the sizing filters) and after every call, filter,
    operator and ``~``. ``template_work`` bounds the steps of one render: loop iterations,
    calls, filters, operators and the items of each ``range``. Exceeding either raises
    :class:`TemplateLimitExceeded` before the memory or the time is spent.
    """

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, limits: ResourceLimits | None = None, **options: Any) -> None:
        super().__init__(*args, **options)
        self._limits = limits or ResourceLimits()
        self.work = 0
        self.globals["range"] = self._range
        self.globals["lipsum"] = self._lipsum
        for name, function in list(self.filters.items()):
            self.filters[name] = self._bounded_filter(name, function)
        self.filters[LOOP_FILTER] = self._loop
        self.filters[_OPERAND_FILTER] = self._as_text_operand
        # Every ``{{ ... }}`` value is measured as text before it is written out.
        self.finalize = self._as_text_operand

    @property
    def limits(self) -> ResourceLimits:
        return self._limits

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        # Every for loop's iterable passes through the loop filter (one step per item).
        tree = super()._parse(source, name, filename)
        for loop in tree.find_all(nodes.For):
            loop.iter = nodes.Filter(loop.iter, LOOP_FILTER, [], [], None, None)
            loop.iter.set_lineno(loop.lineno)
        # Each operand of ``~`` is measured as text before it is turned into text (a list of
        # large shared strings is small until it is written out).
        for concat in tree.find_all(nodes.Concat):
            concat.nodes = [
                nodes.Filter(operand, _OPERAND_FILTER, [], [], None, None, lineno=concat.lineno)
                for operand in concat.nodes
            ]
        return tree

    # --- accounting ------------------------------------------------------------------------

    def spend(self, steps: int = 1) -> None:
        self.work += steps
        limit = self.limits.template_work
        if self.work > limit:
            raise TemplateLimitExceeded(
                f"the template takes more than the guest's limit of {limit} steps"
            )

    def check_size(self, size: int, what: str = "a value") -> None:
        limit = self.limits.template_output_bytes
        if size > limit:
            raise TemplateLimitExceeded(
                f"{what} in the template would exceed the guest's limit of {limit} characters"
            )

    def _as_text_operand(self, value: Any) -> Any:
        """``value``, if written out as text it stays within the output limit: a list or
        mapping of large shared strings is measured by what ``str()`` would make of it."""
        if isinstance(value, _CONTAINERS):
            self.check_size(expanded_size(value), "a value written out")
        return value

    def bounded_value(self, value: Any) -> Any:
        """``value``, if it is within the output limit; building it costs a step per
        ``_BYTES_PER_STEP`` of its size, so a render cannot build ever more large values."""
        if isinstance(value, _CONTAINERS):
            self._as_text_operand(value)
        if isinstance(value, _SIZED):
            self.check_size(len(value))
            self.spend(len(value) // _BYTES_PER_STEP)
        elif isinstance(value, int):
            self.check_size(value.bit_length(), "an integer's bits")
        return value

    def _joined(self, items: Iterable[Any], separator: int) -> list[Any]:
        """The items to join, read one at a time while their joined size stays within the
        output limit."""
        kept: list[Any] = []
        size = 0
        for item in items:
            size += (len(item) if isinstance(item, _SIZED) else 0) + separator
            self.check_size(size)
            kept.append(item)
        return kept

    def render_bounded(self, template: jinja2.Template, context: Mapping[str, Any]) -> str:
        """``template.render(context)``: its work counted from zero, its text bounded."""
        self.work = 0
        chunks: list[str] = []
        size = 0
        for chunk in template.generate(context):
            size += len(chunk)
            self.check_size(size, "the rendered output")
            chunks.append(chunk)
        return "".join(chunks)

    # --- what templates reach ----------------------------------------------------------------

    def _loop(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            self.spend()
            yield item

    def _range(self, *args: int) -> range:
        self.spend(len(range(*args)))
        return safe_range(*args)

    def _lipsum(self, n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
        self.spend(_int(n))
        self.check_size(_int(n) * _int(max) * _LIPSUM_WORD, "lipsum text")
        return str(generate_lorem_ipsum(n, html, min, max))

    def _bounded_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)  # keeps the pass_context/pass_environment mark
        def bounded(*args: Any, **kwargs: Any) -> Any:
            self.spend()
            args = self._before_filter(name, args, kwargs)
            return self.bounded_value(function(*args, **kwargs))

        return bounded

    def _before_filter(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Refuse a filter call whose result would exceed the output limit; ``join``'s
        iterable is read into a list first (so it can be measured)."""
        # A filter that takes the context, the evaluation context or the environment has
        # it first.
        values = [
            value
            for value in args
            if not isinstance(
                value, (jinja2.runtime.Context, jinja2.Environment, nodes.EvalContext)
            )
        ]
        if not values:
            return args
        value, rest = values[0], values[1:]
        if name in _TEXT_FILTERS or name == "join":
            self._as_text_operand(value)
        if name == "center":
            self.check_size(_int(rest[0] if rest else kwargs.get("width", 80)))
        elif name == "indent":
            width = rest[0] if rest else kwargs.get("width", 4)
            per_line = len(width) if isinstance(width, str) else _int(width)
            text = str(value)
            self.check_size(len(text) + (text.count("\n") + 1) * per_line)
        elif name == "wordwrap":
            wrap = rest[2] if len(rest) > 2 else kwargs.get("wrapstring") or "\n"
            self.check_size(len(str(value)) * (len(str(wrap)) + 1))
        elif name == "format":
            # As the filter formats: ``value % (kwargs or args)``.
            self._check_format(str(value), kwargs or tuple(rest))
        elif name == "replace" and len(rest) >= 2:
            self._check_replace(str(value), str(rest[0]), str(rest[1]))
        elif name in ("batch", "slice") and rest:
            self.check_size(_int(rest[0]))
        elif name == "join" and "attribute" not in kwargs:
            separator = str(rest[0] if rest else kwargs.get("d", ""))
            position = next(i for i, arg in enumerate(args) if arg is value)
            items = self._joined(value, len(separator))
            return (*args[:position], items, *args[position + 1 :])
        return args

    def _check_format(self, text: str, values: Any) -> None:
        """A printf-style format's widths and precisions (a ``*`` takes the next value),
        and the strings it takes, stay within the output limit together."""
        mapping = values if isinstance(values, Mapping) else None
        if mapping is None and not isinstance(values, tuple):
            values = (values,)
        position = 0
        size = 0

        def take() -> Any:
            nonlocal position
            position += 1
            if mapping is not None or position > len(values):
                return None
            return values[position - 1]

        for match in _CONVERSION.finditer(text):
            key, width, precision, kind = match.groups()
            for number in (width, precision):
                if number == "*":
                    star = take()
                    size += abs(star) if isinstance(star, int) else 0
                elif number:
                    size += _digits(number)
            if kind == "%":
                continue
            if key is not None:
                value = mapping.get(key[1:-1]) if mapping is not None else None
            else:
                value = take()
            if isinstance(value, str | bytes | bytearray):
                size += len(value)
            self.check_size(size, "a format width")

    def _check_replace(self, text: str, old: str, new: str) -> None:
        count = len(text) + 1 if old == "" else text.count(old)
        self.check_size(len(text) + count * max(len(new) - len(old), 0))

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        self.spend()
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                if isinstance(sequence, _SIZED) and isinstance(times, int):
                    self.check_size(len(sequence) * max(times, 0))
            if isinstance(left, int) and isinstance(right, int):
                self.check_size(left.bit_length() + right.bit_length(), "an integer's bits")
        elif operator == "**":
            if isinstance(left, int) and isinstance(right, int) and right > 0 and abs(left) > 1:
                self.check_size(abs(left).bit_length() * right, "a power's bits")
        elif operator == "+":
            if isinstance(left, _SIZED) and isinstance(right, _SIZED):
                self.check_size(len(left) + len(right))
        elif operator == "%" and isinstance(left, (str, bytes)):
            text = left.decode("latin-1") if isinstance(left, bytes) else left
            self._check_format(text, right)
        return self.bounded_value(super().call_binop(context, operator, left, right))

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja's sandboxed ``str.format``/``format_map``, its fields bounded as they are
        formatted (:class:`_SpecBound`)."""
        if super().wrap_str_format(value) is None:
            return None
        text = value.__self__
        is_format_map = value.__name__ == "format_map"

        def bounded(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                kwargs = args[0]
                args = ()
            formatter: _SpecBound
            if isinstance(text, Markup):
                formatter = _BoundedEscapeFormatter(self, escape=text.escape)
            else:
                formatter = _BoundedFormatter(self)
            formatted = type(text)(formatter.vformat(text, args, kwargs))
            return self.bounded_value(formatted)  # type: ignore[no-any-return]

        return functools.update_wrapper(bounded, value)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self.spend()
        args = __self._before_call(__obj, args, kwargs)
        return __self.bounded_value(super().call(__context, __obj, *args, **kwargs))

    def _before_call(
        self, obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> tuple[Any, ...]:
        """Refuse a method call whose result would exceed the output limit; ``join``'s
        iterable is read into a list first (so it can be measured)."""
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", "")
        if isinstance(owner, str | bytes | bytearray):
            if name in ("ljust", "rjust", "center", "zfill") and args:
                self.check_size(_int(args[0]))
            elif name == "expandtabs":
                tab = _int(args[0] if args else kwargs.get("tabsize", 8))
                tabs = owner.count("\t") if isinstance(owner, str) else owner.count(b"\t")
                self.check_size(len(owner) + tabs * tab)
            elif name == "replace" and len(args) >= 2 and isinstance(owner, str):
                self._check_replace(owner, str(args[0]), str(args[1]))
            elif name == "join" and args:
                args = (self._joined(args[0], len(owner)), *args[1:])
            elif name == "translate" and args and isinstance(args[0], Mapping):
                widest = max((len(v) for v in args[0].values() if isinstance(v, _SIZED)), default=1)
                self.check_size(len(owner) * widest)
        elif (
            isinstance(owner, list | bytearray | dict | set)
            and name in ("extend", "update")
            and args
            and isinstance(args[0], _SIZED)
        ):
            self.check_size(len(owner) + len(args[0]))
        return args

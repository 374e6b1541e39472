"""Strict validation of JSON-like documents (network specs, ``ann.json``) with JSON Schema.

The schemas are plain JSON Schema (draft 2020-12) checked by the ``jsonschema`` library,
extended with

- ``"finite": true``: the number is neither NaN nor infinite (JSON Schema has no keyword
  for that, and Python's ``json`` reads ``NaN``/``Infinity``);
- tuples count as arrays and numpy scalars as numbers (specs built in Python).

:func:`validate` raises a one-line :class:`~snnsim.errors.UserError` whose message starts
with the path of the offending field, e.g.
``layers[1].treshold: unknown key (did you mean 'thresh'?)``. The small helpers
(:func:`number`, :func:`integer`, ...) write the parameter declarations of node types and
ops (:func:`snnsim.core.nodes.register_node`, :func:`snnsim.core.ops.register_op`).
"""

from __future__ import annotations

import difflib
import math
import numbers
from typing import Any, Iterable, Optional, Sequence

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from snnsim.errors import UserError

Schema = dict[str, Any]

#: Most layers and connections a network spec may have: checked before anything is built (a spec
#: of 10^6 layers ran for minutes before the allocator gave up).
MAX_LAYERS = 10_000
MAX_CONNECTIONS = 100_000


def _is_array(_checker: Any, value: Any) -> bool:
    return isinstance(value, (list, tuple))


def _is_number(_checker: Any, value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(checker: Any, value: Any) -> bool:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return True
    return _is_number(checker, value) and math.isfinite(value) and float(value).is_integer()


def _finite(_validator: Any, wanted: bool, value: Any, _schema: Schema) -> Iterable[ValidationError]:
    if wanted and _is_number(None, value) and not math.isfinite(value):
        yield ValidationError(f"must be a finite number, got {value!r}")


_CHECKER = Draft202012Validator.TYPE_CHECKER.redefine_many(
    {"array": _is_array, "number": _is_number, "integer": _is_integer}
)
Validator = jsonschema.validators.extend(Draft202012Validator, validators={"finite": _finite}, type_checker=_CHECKER)


# --------------------------------------------------------------------------- fragments
def number(
    *,
    minimum: Optional[float] = None,
    exclusive_minimum: Optional[float] = None,
    maximum: Optional[float] = None,
    exclusive_maximum: Optional[float] = None,
) -> Schema:
    """A finite number, optionally bounded."""
    out: Schema = {"type": "number", "finite": True}
    for key, val in (
        ("minimum", minimum),
        ("exclusiveMinimum", exclusive_minimum),
        ("maximum", maximum),
        ("exclusiveMaximum", exclusive_maximum),
    ):
        if val is not None:
            out[key] = val
    return out


def integer(minimum: Optional[int] = None) -> Schema:
    """An integer (``3`` or ``3.0``), optionally ``>= minimum``."""
    return {"type": "integer"} if minimum is None else {"type": "integer", "minimum": minimum}


def boolean() -> Schema:
    return {"type": "boolean"}


def one_of(values: Sequence[Any]) -> Schema:
    return {"enum": list(values)}


def optional(schema: Schema) -> Schema:
    """``schema`` or ``null``."""
    return {"anyOf": [{"type": "null"}, schema]}


def shape() -> Schema:
    """A tensor shape: a non-empty list of integers >= 1."""
    return {"type": "array", "minItems": 1, "items": integer(1)}


def closed_object(properties: dict[str, Schema], required: Sequence[str] = ()) -> Schema:
    """An object with exactly these keys allowed."""
    return {"type": "object", "properties": dict(properties), "required": list(required), "additionalProperties": False}


# --------------------------------------------------------------------------- messages
def field_path(prefix: str, parts: Iterable[Any]) -> str:
    """``("layers", 1, "thresh")`` -> ``layers[1].thresh`` (after ``prefix``)."""
    out = prefix
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: ValidationError) -> tuple[list[Any], str]:
    """(extra path parts, message) for one jsonschema error."""
    kind, value, arg = error.validator, error.instance, error.validator_value
    if kind == "additionalProperties" and isinstance(value, dict):
        allowed = sorted(error.schema.get("properties", {}))
        extra = sorted(str(k) for k in value if k not in allowed)[0]
        close = difflib.get_close_matches(extra, allowed, n=1, cutoff=0.6)
        hint = f"did you mean {close[0]!r}?" if close else f"allowed: {', '.join(allowed) or 'none'}"
        return [extra], f"unknown key ({hint})"
    if kind == "required":
        missing = [k for k in arg if k not in value][0]
        return [missing], "required key is missing"
    if kind == "type":
        want = arg if isinstance(arg, str) else " or ".join(arg)
        return [], f"must be of type {want}, got {_short(value)}"
    if kind == "enum":
        return [], f"must be one of {arg}, got {_short(value)}"
    if kind in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        sign = {"minimum": ">=", "exclusiveMinimum": ">", "maximum": "<=", "exclusiveMaximum": "<"}[kind]
        return [], f"must be {sign} {arg}, got {_short(value)}"
    if kind == "maxItems":
        return [], f"must have at most {arg} items, got {len(value)}"
    if kind == "minItems":
        return [], "must be a non-empty list" if arg == 1 else f"must have at least {arg} items, got {len(value)}"
    if kind == "const":
        return [], f"must be {arg!r}, got {_short(value)}"
    return [], error.message


def _type_mismatch(branch: ValidationError, parent: ValidationError) -> bool:
    """Whether ``branch`` of ``parent`` (anyOf/oneOf) fails only on the type of the value itself."""
    return branch.validator == "type" and list(branch.absolute_path) == list(parent.absolute_path)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _document_order(error: ValidationError) -> list[str]:
    return [f"{p:012d}" if isinstance(p, int) else str(p) for p in error.absolute_path]


def validate(instance: Any, schema: Schema, where: str = "", *, context: str = "") -> None:
    """Raise :class:`UserError` for the first problem of ``instance`` under ``schema``.

    The message is ``"{context}{path}: {problem}"``, ``path`` starting with ``where``
    (e.g. ``"layers[1]"``)."""
    errors = sorted(Validator(schema).iter_errors(instance), key=_document_order)
    if not errors:
        return
    error = errors[0]  # the first problem in document order (stable messages)
    while error.context and error.validator in ("anyOf", "oneOf"):  # the most specific branch
        branches = [e for e in error.context if e.schema != {"type": "null"}] or error.context
        # a branch of the value's own type (a number out of range) says more than "must be an array"
        branches = [e for e in branches if not _type_mismatch(e, error)] or branches
        deeper = best_match(branches)
        if deeper is None:
            break
        error = deeper
    extra, message = _describe(error)
    raise UserError(f"{context}{field_path(where, [*error.absolute_path, *extra])}: {message}")

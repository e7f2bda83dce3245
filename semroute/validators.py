"""Output validators: each kind defined once, in :data:`VALIDATORS`, with how its parameters are checked and how an
output is judged.

Route files declare validators (``validators: [{kind: json, schema: {...}}, ...]``); ``semroute check`` checks their
parameters through :func:`check_spec`; decisions carry them to clients in any language; the Python client judges each
output with :func:`judge`. Standard library only (``jsonschema`` is imported when a JSON Schema is given), so the lean
client can use this module.

A ``custom`` validator names a check the calling client registers (``{name: callable}``); route files only check the
name's syntax, and an unregistered name is a clear error at call time.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from semroute.types import ValidatorSpec

CustomCheck = Callable[[str], "str | None"]  # output -> None when it passes, else why it fails
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_FENCED = re.compile(r"```[\w+-]*[ \t]*\n(.*?)```", re.DOTALL)


class UnknownCustomValidatorError(LookupError):
    """A route asks for a ``custom`` validator the caller did not register."""


@dataclass(frozen=True)
class ValidatorKind:
    """One kind of validator: how its parameters are checked and how it judges an output."""

    name: str
    description: str
    check: Callable[[Mapping[str, Any]], None]  # raises ValueError naming the parameter
    judge: Callable[[str, Mapping[str, Any], Mapping[str, CustomCheck]], str | None]


def _only(params: Mapping[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(params) - allowed)
    if unknown:
        raise ValueError(
            f"unknown parameter {', '.join(unknown)}"
            + (f"; it takes {', '.join(sorted(allowed))}" if allowed else "; it takes none")
        )


def _check_json(params: Mapping[str, Any]) -> None:
    _only(params, {"schema"})
    schema = params.get("schema")
    if schema is None:
        return
    if not isinstance(schema, dict):
        raise ValueError("schema: must be a JSON Schema object")
    from jsonschema import exceptions, validators  # only where a schema is given

    try:
        validators.validator_for(schema).check_schema(schema)
    except exceptions.SchemaError as error:
        raise ValueError(f"schema: not a valid JSON Schema ({error.message})") from None


def _judge_json(output: str, params: Mapping[str, Any], custom: Mapping[str, CustomCheck]) -> str | None:
    try:
        value = json.loads(output)
    except json.JSONDecodeError as error:
        return f"not JSON ({error.msg} at line {error.lineno}, column {error.colno})"
    schema = params.get("schema")
    if schema is None:
        return None
    from jsonschema import validators

    mismatch = next(iter(validators.validator_for(schema)(schema).iter_errors(value)), None)
    if mismatch is None:
        return None
    where = "/".join(str(part) for part in mismatch.absolute_path) or "the document"
    return f"does not match the schema at {where}: {mismatch.message}"


def _check_regex(params: Mapping[str, Any]) -> None:
    _only(params, {"pattern"})
    pattern = params.get("pattern")
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("pattern: required, a regular expression")
    try:
        re.compile(pattern)
    except (re.error, OverflowError, RecursionError) as error:
        raise ValueError(f"pattern: not a valid regular expression ({error})") from None


def _judge_regex(output: str, params: Mapping[str, Any], custom: Mapping[str, CustomCheck]) -> str | None:
    return None if re.search(params["pattern"], output) else f"does not contain a match of /{params['pattern']}/"


def _check_nothing(params: Mapping[str, Any]) -> None:
    _only(params, set())


def _judge_python(output: str, params: Mapping[str, Any], custom: Mapping[str, CustomCheck]) -> str | None:
    fenced = _FENCED.search(output)
    source = fenced.group(1) if fenced else output
    try:
        ast.parse(source)
    except SyntaxError as error:
        return f"not valid Python ({error.msg}, line {error.lineno})"
    except (ValueError, RecursionError, MemoryError) as error:  # null bytes, absurd nesting
        return f"not valid Python ({error})"
    return None


def _check_max_chars(params: Mapping[str, Any]) -> None:
    _only(params, {"limit"})
    limit = params.get("limit")
    if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 1 or int(limit) != limit:
        raise ValueError("limit: required, a whole number of characters, at least 1")


def _judge_max_chars(output: str, params: Mapping[str, Any], custom: Mapping[str, CustomCheck]) -> str | None:
    limit = int(params["limit"])
    return None if len(output) <= limit else f"{len(output):,} characters, over the limit of {limit:,}"


def _check_custom(params: Mapping[str, Any]) -> None:
    _only(params, {"name"})
    name = params.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(
            "name: required, 1-64 characters of lower-case letters, digits and '_', starting with a letter"
        )


def _judge_custom(output: str, params: Mapping[str, Any], custom: Mapping[str, CustomCheck]) -> str | None:
    name = params["name"]
    if name not in custom:
        known = ", ".join(sorted(custom)) or "none"
        raise UnknownCustomValidatorError(
            f"the route asks for the custom validator {name!r}, which this client has not registered "
            f"(registered: {known}); pass validators={{{name!r}: check}} to the client"
        )
    return custom[name](output)


VALIDATORS: dict[str, ValidatorKind] = {
    kind.name: kind
    for kind in (
        ValidatorKind("json", "parses as JSON; optionally matches a JSON Schema", _check_json, _judge_json),
        ValidatorKind("regex", "contains a match of a regular expression", _check_regex, _judge_regex),
        ValidatorKind(
            "python_syntax", "the output, or its fenced code, parses as Python", _check_nothing, _judge_python
        ),
        ValidatorKind("max_chars", "at most a number of characters", _check_max_chars, _judge_max_chars),
        ValidatorKind("custom", "a check the calling client registers by name", _check_custom, _judge_custom),
    )
}


def check_spec(spec: ValidatorSpec) -> None:
    """Check a validator's kind and parameters (what ``semroute check`` does).

    Raises:
        ValueError: naming the unknown kind, or the parameter that is wrong.
    """
    kind = VALIDATORS.get(spec.kind)
    if kind is None:
        raise ValueError(f"unknown validator kind {spec.kind!r}; the kinds are {', '.join(VALIDATORS)}")
    kind.check(spec.params)


def judge(output: str, spec: ValidatorSpec, custom: Mapping[str, CustomCheck] | None = None) -> str | None:
    """Judge ``output`` with one validator: None when it passes, otherwise what is wrong, in words.

    Raises:
        UnknownCustomValidatorError: a ``custom`` validator whose name ``custom`` lacks.
    """
    return VALIDATORS[spec.kind].judge(output, spec.params, custom or {})

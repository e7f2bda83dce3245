"""What the caller of ``complete()`` asks for, checked before anything is sent: the messages, the text to route on,
the validators added for this call, the time budget and where each model is called."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypedDict, cast

from semroute.chat import Message, chat_turns, content_text
from semroute.execution.attempts import DEFAULT_ATTEMPT_TIMEOUT, Budget
from semroute.execution.providers import Providers
from semroute.types import ChatMessage, ValidatorSpec
from semroute.validators import VALIDATORS, CustomCheck, UnknownCustomValidatorError, check_spec

# The least timeout routing gets: a deadline already spent ends in DEADLINE_EXCEEDED, not a refused timeout.
MIN_ROUTE_SECONDS = 0.001
Task = str | Sequence[Message]  # a text is sent as one user message
# One validator of a call: a spec, a kind's name, a route file's form {"kind": ..., **params}, or {name: check}.
CallValidator = ValidatorSpec | str | Mapping[str, Any]
CallValidators = CallValidator | Sequence[CallValidator]


class CompletionOptions(TypedDict, total=False):
    """Options of ``RouterClient.complete`` and ``AsyncRouterClient.complete``.

    Attributes:
        metadata: Request metadata for routing (override rules read it), as in ``route()``.
        validators: Checks added to the decision's for this call, one or a list: :class:`~semroute.types.ValidatorSpec`
            values, kinds' names (``"json"``), mappings written like a route file's validators (``{"kind":
            "max_chars", "limit": 1500}``, checked as ``semroute check`` checks those), and mappings ``{name:
            check}`` that register the ``custom`` validators a route or this call names (a check takes the output
            and returns None when it passes, else why it fails). Registering a check does not run it; a
            ``ValidatorSpec("custom", {"name": ...})`` (or ``{"kind": "custom", "name": ...}``) does.
        deadline: Seconds the whole completion may take, routing included; no attempt starts after it and each is
            cut to what is left. None: no overall deadline.
        attempt_timeout: Seconds one model call may take (default :data:`DEFAULT_ATTEMPT_TIMEOUT`).
        tools: OpenAI-format tool definitions, passed to litellm as they are.
        tool_choice: Passed to litellm as it is.
        response_format: Passed to litellm as it is (e.g. ``{"type": "json_object"}``).
        providers: Where each model is called (see :mod:`semroute.execution.providers`).
        litellm_options: More keyword arguments for every ``litellm.completion`` call (e.g. ``extra_headers``).
    """

    metadata: Mapping[str, str] | None
    validators: CallValidators | None
    deadline: float | None
    attempt_timeout: float
    tools: Sequence[Mapping[str, Any]] | None
    tool_choice: str | Mapping[str, Any] | None
    response_format: Mapping[str, Any] | None
    providers: Providers | None
    litellm_options: Mapping[str, Any] | None


@dataclass(frozen=True)
class CompletionRequest:
    """One ``complete()`` call, checked: everything but the decision."""

    messages: tuple[Message, ...]
    route_text: str
    turns: tuple[ChatMessage, ...]  # every message as the router sees it: the rules read all of them
    budget: Budget
    metadata: Mapping[str, str] = field(default_factory=dict)
    validators: tuple[ValidatorSpec, ...] = ()
    custom_checks: Mapping[str, CustomCheck] = field(default_factory=dict)
    providers: Providers | None = None
    passed_through: Mapping[str, Any] = field(default_factory=dict)  # tools, tool_choice, ... for every call

    @classmethod
    def from_options(cls, task: Task, options: CompletionOptions, now: float | None = None) -> CompletionRequest:
        """Check the caller's task and options; the budget's clock starts now (``time.monotonic``).

        Raises:
            ValueError: no user message to route on, an invalid validator, a non-positive deadline or timeout.
            TypeError: an option :class:`CompletionOptions` does not have.
        """
        unknown = sorted(set(options) - CompletionOptions.__optional_keys__)
        if unknown:  # keyword options are a TypedDict: only a type checker would catch a misspelt one
            known = ", ".join(sorted(CompletionOptions.__optional_keys__))
            raise TypeError(f"complete() got unknown options: {', '.join(unknown)}; it takes {known}")
        messages = to_messages(task)
        validators, custom_checks = split_validators(options.get("validators"))
        passed_through = {
            key: options[key] for key in ("tools", "tool_choice", "response_format") if options.get(key) is not None
        }
        return cls(
            messages=messages,
            route_text=route_text(messages),
            turns=chat_turns(messages),
            budget=Budget(
                time.monotonic() if now is None else now,
                options.get("deadline"),
                options.get("attempt_timeout", DEFAULT_ATTEMPT_TIMEOUT),
            ),
            metadata=options.get("metadata") or {},
            validators=validators,
            custom_checks=custom_checks,
            providers=options.get("providers"),
            passed_through={**passed_through, **(options.get("litellm_options") or {})},
        )

    def route_arguments(self, now: float | None = None) -> dict[str, Any]:
        """Keyword arguments of the client's ``route()`` for this task: its text, every message (the rules read the
        whole conversation that will be sent), metadata and what is left of the deadline (None without one: the
        client's default), never less than :data:`MIN_ROUTE_SECONDS`."""
        left = self.budget.seconds_left(time.monotonic() if now is None else now)
        timeout = None if left is None else max(left, MIN_ROUTE_SECONDS)
        return {"text": self.route_text, "metadata": self.metadata, "timeout": timeout, "messages": self.turns}


def to_messages(task: Task) -> tuple[Message, ...]:
    """The chat messages of a task: a text becomes one user message."""
    if isinstance(task, str):
        return ({"role": "user", "content": task},)
    return tuple(task)


def route_text(messages: Sequence[Message]) -> str:
    """The text a task is routed on: the last user message's (the text parts of a multi-part content, joined).

    Raises:
        ValueError: no user message, or one with no text.
    """
    user = next((message for message in reversed(messages) if message.get("role") == "user"), None)
    if user is None:
        raise ValueError("messages: no user message to route on")
    text = content_text(user.get("content"))
    if not text.strip():
        raise ValueError("messages: the last user message has no text to route on")
    return text


def split_validators(given: CallValidators | None) -> tuple[tuple[ValidatorSpec, ...], dict[str, CustomCheck]]:
    """The validators a call adds (each checked as ``semroute check`` checks a route file's) and the custom checks
    it registers.

    ``given`` is one item or a sequence of them; an item is a :class:`ValidatorSpec`, a kind's name (``"json"``), a
    mapping written like a route file's validator (``{"kind": "max_chars", "limit": 1500}``), or a mapping
    ``{name: check}`` of custom checks to register.

    Raises:
        ValueError: a validator of an unknown kind or with wrong parameters, or a check under an unusable name.
        TypeError: an item of none of the accepted forms (the message names it and them).
    """
    if given is None:
        return (), {}
    single = isinstance(given, ValidatorSpec | str | Mapping) or not isinstance(given, Sequence)
    items: Sequence[Any] = [given] if single else cast(Sequence[Any], given)
    specs: list[ValidatorSpec] = []
    checks: dict[str, CustomCheck] = {}
    for position, item in enumerate(items):
        where = "validators" if single else f"validators[{position}]"
        read = _read_validator(item, where)
        if isinstance(read, ValidatorSpec):
            specs.append(read)
        else:
            checks.update(read)
    return tuple(specs), checks


_ACCEPTED_FORMS = (
    "a validator is a ValidatorSpec, a kind's name ('json'), a mapping written like a route file's validator "
    "({'kind': 'max_chars', 'limit': 1500}), or a mapping {name: check} registering custom checks"
)


def _read_validator(item: Any, where: str) -> ValidatorSpec | dict[str, CustomCheck]:
    """One item of ``validators=``: a checked spec, or the custom checks it registers."""
    if isinstance(item, ValidatorSpec):
        spec = item
    elif isinstance(item, str):
        spec = ValidatorSpec(item)
    elif isinstance(item, Mapping) and "kind" in item and not callable(item["kind"]):
        kind = item["kind"]
        if not isinstance(kind, str):
            raise TypeError(f"{where}.kind: must be the name of a validator kind, not {type(kind).__name__}")
        spec = ValidatorSpec(kind, {name: value for name, value in item.items() if name != "kind"})
    elif isinstance(item, Mapping):
        return _custom_checks(item, where)
    else:
        raise TypeError(f"{where}: {item!r} ({type(item).__name__}) is not a validator; {_ACCEPTED_FORMS}")
    try:
        check_spec(spec)  # what `semroute check` applies to a route file's validators
    except ValueError as error:
        named = f" ({spec.kind})" if spec.kind in VALIDATORS else ""
        raise ValueError(f"{where}{named}: {error}") from None
    return spec


def _custom_checks(item: Mapping[Any, Any], where: str) -> dict[str, CustomCheck]:
    for name, check in item.items():
        if not callable(check):
            raise TypeError(
                f"{where}: {dict(item)!r} is neither a validator (it has no 'kind') nor custom checks "
                f"({name!r} maps to {check!r}, not a check: a callable taking the output); {_ACCEPTED_FORMS}"
            )
        try:
            check_spec(ValidatorSpec("custom", {"name": name}))  # a name no custom validator could name is a slip
        except ValueError:
            raise ValueError(
                f"{where}[{name!r}]: a custom check's name must be 1-64 characters of lower-case letters, digits "
                "and '_', starting with a letter, as a custom validator's name is"
            ) from None
    return dict(item)


def require_registered(validators: Sequence[ValidatorSpec], checks: Mapping[str, CustomCheck]) -> None:
    """Check, before any model is called, that every ``custom`` validator names a registered check.

    Raises:
        UnknownCustomValidatorError: naming the first one that does not.
    """
    for spec in validators:
        if spec.kind == "custom" and spec.params.get("name") not in checks:
            name = spec.params.get("name")
            known = ", ".join(sorted(checks)) or "none"
            raise UnknownCustomValidatorError(
                f"the custom validator {name!r} is not registered (registered: {known}); "
                f"pass validators={{{name!r}: check}} to complete()"
            )

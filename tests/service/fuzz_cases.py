"""Hypothesis strategies for the service fuzz: valid requests, requests with one bad field, and malformed wire bytes;
and for every write path into the outcome store (decisions, outcomes, quality scores, attempts, labels), valid
records and records with one field over a limit.

Each strategy yields a :class:`FuzzCase`: the method to call, the raw request bytes and the status codes the call may
end with. The malformed messages are encoded by hand (:func:`encode_field`) because the protobuf library refuses to
serialise what they hold, such as invalid UTF-8 in a string field.
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
import sys
from typing import Any

import grpc
from google.protobuf.message import Message
from hypothesis import strategies as st

from semroute.limits import (
    MAX_ATTEMPTS,
    MAX_COST_USD,
    MAX_DECISION_ID_CHARS,
    MAX_ERROR_CLASS_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_LABELS,
    MAX_LATENCY_MS,
    MAX_MODEL_NAME_CHARS,
    MAX_PASSED_VALIDATORS,
    MAX_STORED_MESSAGE_CHARS,
    MAX_TOKENS,
    MAX_VALIDATOR_CHARS,
)
from semroute.router import MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_CHARS, MAX_TEXT_CHARS, MAX_TOP_K
from semroute.service import MAX_BATCH_REQUESTS, MAX_MESSAGE_BYTES
from semroute.v1 import router_pb2 as pb
from semroute.wire import REQUEST_ID_KEY

ROUTE = "Route"
ROUTE_BATCH = "RouteBatch"
REPORT_OUTCOME = "ReportOutcome"
REPORT_QUALITY = "ReportQuality"
REPORTS = (REPORT_OUTCOME, REPORT_QUALITY)

OK = frozenset({grpc.StatusCode.OK})
INVALID = frozenset({grpc.StatusCode.INVALID_ARGUMENT})
ANSWERED = OK | INVALID  # random bytes may happen to decode as a valid request
TOO_LARGE = frozenset({grpc.StatusCode.RESOURCE_EXHAUSTED})

INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_REQUEST_FIELDS = pb.RouteRequest.DESCRIPTOR.fields_by_name
TEXT_FIELD = _REQUEST_FIELDS["text"].number
METADATA_FIELD = _REQUEST_FIELDS["metadata"].number
BATCH_ITEM_FIELD = pb.RouteBatchRequest.DESCRIPTOR.fields_by_name["requests"].number
FIRST_UNKNOWN_FIELD = max(field.number for field in pb.RouteRequest.DESCRIPTOR.fields) + 1
# Map entries are messages of their own: the key is field 1, the value field 2.
MAP_KEY_FIELD, MAP_VALUE_FIELD = 1, 2

# The metadata key rule as the proto documents it, written out here rather than imported from the server, so that
# the fuzz checks the server against the contract and not against itself.
METADATA_KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")
METADATA_KEY_ALPHABET = string.ascii_letters + string.digits + "_.-"
# What str.strip() removes: a text of only these characters is blank.
WHITESPACE = "".join(character for character in map(chr, range(sys.maxunicode + 1)) if character.isspace())
# Never valid UTF-8: a stray continuation byte, bytes UTF-8 never uses, a lead byte missing its continuation, an
# overlong '/', a UTF-16 surrogate, a code point above U+10FFFF.
INVALID_UTF8 = (
    b"\x80",
    b"\xbf",
    b"\xfe",
    b"\xff",
    b"\xc3(",
    b"\xe2\x82",
    b"\xf0\x9f\x98",
    b"\xc0\xaf",
    b"\xed\xa0\x80",
    b"\xf4\x90\x80\x80",
)
TASK_WORDS = (
    "write",
    "unit tests",
    "for the parser",
    "summarize this article",
    "refactor",
    "the module",
    "translate",
    "an email",
    "review this diff",
    "extract the names",
    "classify the ticket",
    "docs",
    "src/app.py",
    "lib/util.ts",
    "```python\nprint(1)\n```",
    "why is the sky blue?",
)
WIRE_TYPES = {"varint": 0, "fixed64": 1, "length_delimited": 2, "fixed32": 5}
FIXED_SIZES = {"fixed64": 8, "fixed32": 4}


@dataclasses.dataclass(frozen=True)
class FuzzCase:
    """One call to make: which method, with which raw bytes, and the status codes it may end with.

    Attributes:
        kind: What the case exercises, for the counts by kind.
        method: ``Route``, ``RouteBatch``, ``ReportOutcome`` or ``ReportQuality``.
        payload: The serialized request, possibly malformed.
        expected: The acceptable status codes; for a valid report, OK unless its labels would take the decision's
            over the per-decision limit (the fuzz keeps track of each decision's labels).
        tasks: How many decisions an OK answer must hold; 0 when the payload is random (then: at least one).
        metadata: Call metadata to send, e.g. an ``x-request-id`` of the caller's.
    """

    kind: str
    method: str
    payload: bytes
    expected: frozenset[grpc.StatusCode]
    tasks: int = 0
    metadata: tuple[tuple[str, str], ...] = ()

    @property
    def valid(self) -> bool:
        """Whether the case is a valid request, which must get a decision."""
        return self.expected == OK


def encode_varint(value: int) -> bytes:
    """A non-negative integer as a protobuf base-128 varint."""
    encoded = bytearray()
    while value > 0x7F:
        encoded.append(value & 0x7F | 0x80)
        value >>= 7
    encoded.append(value)
    return bytes(encoded)


def encode_field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): a string, a nested message or a map entry, holding any bytes."""
    return encode_varint(number << 3 | WIRE_TYPES["length_delimited"]) + encode_varint(len(payload)) + payload


def serialized(message: Message) -> bytes:
    """A message's bytes, with map entries in key order: the same draw gives the same bytes in every process."""
    return message.SerializeToString(deterministic=True)


def is_blank(text: str) -> bool:
    """Whether a text is empty or only whitespace."""
    return not text.strip()


# --- field values -------------------------------------------------------------------------------------------------

# Any character a PostgreSQL text column can hold: everything but NUL, which is refused (nul_in_text), and the
# surrogates, which UTF-8 cannot encode.
characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
task_texts = st.one_of(
    st.lists(st.sampled_from(TASK_WORDS), min_size=1, max_size=8).map(" ".join),
    st.text(characters, min_size=1, max_size=40).filter(lambda text: not is_blank(text)),  # controls included
)
blank_texts = st.text(alphabet=WHITESPACE, max_size=12)
# Keys and long values are built from short draws: hypothesis draws strings one character at a time.
metadata_keys = st.text(alphabet=METADATA_KEY_ALPHABET, min_size=1, max_size=16)
long_metadata_keys = st.builds(lambda key, size: (key * 64)[:size], metadata_keys, st.integers(17, 64))
metadata_values = st.text(max_size=40) | st.builds(
    lambda value: (value * MAX_METADATA_VALUE_CHARS)[:MAX_METADATA_VALUE_CHARS], st.text(min_size=1, max_size=8)
)
metadata = st.one_of(
    st.dictionaries(metadata_keys | long_metadata_keys, metadata_values, max_size=4),
    metadata_keys.map(lambda key: {f"{key}{number}": "x" for number in range(MAX_METADATA_ENTRIES)}),
    st.fixed_dictionaries({"data_sensitivity": st.sampled_from(["restricted", "confidential", "public"])}),
)
bad_metadata_keys = st.one_of(
    st.just(""),
    metadata_keys.map(lambda key: key + "\n"),  # `$` in a regex also matches before a final newline
    st.builds(lambda key, extra: (key * 81)[: 64 + extra], metadata_keys, st.integers(1, 16)),
    st.text(min_size=1, max_size=20).filter(lambda key: METADATA_KEY_PATTERN.fullmatch(key) is None),
)
invalid_utf8 = st.builds(
    lambda before, bad, after: before.encode() + bad + after.encode(),
    st.text(max_size=12),
    st.sampled_from(INVALID_UTF8),
    st.text(max_size=12),
)

VALID_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "text": task_texts,
    "metadata": metadata,
    "top_k": st.none() | st.integers(1, MAX_TOP_K),
    "input_tokens": st.none() | st.integers(0, 1_000_000) | st.integers(0, MAX_TOKENS),
    "full_trace": st.booleans(),
}


cuts = st.integers(0, 1 << 16)  # where to put a character into a string: at any place, or at its end


def _with(text: str, character: str, cut: int) -> str:
    """``text`` with ``character`` put in at ``cut`` (or at its end)."""
    return f"{text[:cut]}{character}{text[cut:]}"


def requests_with(**fields: st.SearchStrategy[Any]) -> st.SearchStrategy[pb.RouteRequest]:
    """RouteRequest messages whose fields are valid except the ones given (None leaves an optional field unset)."""
    return st.builds(pb.RouteRequest, **{**VALID_FIELDS, **fields})


def _over_the_text_limit(text: str, extra: int) -> str:
    return (text * (MAX_TEXT_CHARS // len(text) + 2))[: MAX_TEXT_CHARS + extra]


valid_requests = requests_with()
# One field wrong, by what is wrong with it: kind -> (percent of the calls, requests).
BAD_FIELDS: dict[str, tuple[float, st.SearchStrategy[pb.RouteRequest]]] = {
    "blank_text": (3, requests_with(text=blank_texts)),
    "top_k_out_of_range": (3, requests_with(top_k=st.integers(-(2**31), 0) | st.integers(MAX_TOP_K + 1, INT32_MAX))),
    "negative_input_tokens": (2, requests_with(input_tokens=st.integers(-(2**63), -1))),
    "input_tokens_over_limit": (2, requests_with(input_tokens=st.integers(MAX_TOKENS + 1, INT64_MAX))),
    "nul_in_text": (2, requests_with(text=st.builds(lambda text, cut: _with(text, "\x00", cut), task_texts, cuts))),
    "bad_metadata_key": (
        3,
        requests_with(metadata=st.dictionaries(bad_metadata_keys, st.text(max_size=8), min_size=1, max_size=2)),
    ),
    "too_many_metadata": (
        2,
        requests_with(
            metadata=st.integers(MAX_METADATA_ENTRIES + 1, MAX_METADATA_ENTRIES + 8).map(
                lambda count: {f"key{number}": "x" for number in range(count)}
            )
        ),
    ),
    "long_metadata_value": (
        2,
        requests_with(
            metadata=st.builds(
                lambda key, value: {key: value + "v" * (MAX_METADATA_VALUE_CHARS + 1)},
                metadata_keys,
                st.text(max_size=8),
            )
        ),
    ),
}
bad_requests = st.one_of(*(requests for _, requests in BAD_FIELDS.values()))
requests_over_the_text_limit = requests_with(
    text=st.builds(_over_the_text_limit, task_texts, st.integers(1, 100)), metadata=st.just({})
)


def _batch(items: list[pb.RouteRequest]) -> pb.RouteBatchRequest:
    return pb.RouteBatchRequest(requests=items)


valid_batches = st.lists(valid_requests, min_size=1, max_size=4).map(_batch)


def _inserted(items: list[Any], item: Any, position: int) -> list[Any]:
    return [*items[:position], item, *items[position:]]


# --- cases -------------------------------------------------------------------------------------------------------


def route_cases(
    kind: str, messages: st.SearchStrategy[pb.RouteRequest], expected: frozenset[grpc.StatusCode]
) -> st.SearchStrategy[FuzzCase]:
    """Route calls with each message, serialized."""
    return messages.map(lambda message: FuzzCase(kind, ROUTE, serialized(message), expected, tasks=1))


def batch_cases(
    kind: str, batches: st.SearchStrategy[pb.RouteBatchRequest], expected: frozenset[grpc.StatusCode]
) -> st.SearchStrategy[FuzzCase]:
    """RouteBatch calls with each batch, serialized."""
    return batches.map(
        lambda batch: FuzzCase(kind, ROUTE_BATCH, serialized(batch), expected, tasks=len(batch.requests))
    )


# (method, serialized valid request): the raw material of truncated and flipped messages
valid_payloads = st.one_of(
    valid_requests.map(lambda message: (ROUTE, serialized(message))),
    valid_batches.map(lambda batch: (ROUTE_BATCH, serialized(batch))),
)


@st.composite
def truncated_messages(draw: st.DrawFn) -> FuzzCase:
    """A valid message cut short at any byte."""
    method, payload = draw(valid_payloads)
    return FuzzCase("truncated", method, payload[: draw(st.integers(0, len(payload) - 1))], ANSWERED)


@st.composite
def flipped_messages(draw: st.DrawFn) -> FuzzCase:
    """A valid message with one byte changed."""
    method, payload = draw(valid_payloads)
    position = draw(st.integers(0, len(payload) - 1))
    flipped = payload[position] ^ draw(st.integers(1, 255))
    return FuzzCase("flipped_byte", method, payload[:position] + bytes([flipped]) + payload[position + 1 :], ANSWERED)


@st.composite
def route_requests_with_invalid_utf8(draw: st.DrawFn) -> bytes:
    """A RouteRequest whose text, a metadata key or a metadata value holds invalid UTF-8; all else is valid."""
    message = draw(valid_requests)
    where = draw(st.sampled_from(["text", "metadata key", "metadata value"]))
    if where == "text":
        message.ClearField("text")
        return encode_field(TEXT_FIELD, draw(invalid_utf8)) + serialized(message)
    good_key, good_value = draw(metadata_keys).encode(), draw(st.text(max_size=8)).encode()
    key, value = (draw(invalid_utf8), good_value) if where == "metadata key" else (good_key, draw(invalid_utf8))
    entry = encode_field(MAP_KEY_FIELD, key) + encode_field(MAP_VALUE_FIELD, value)
    return serialized(message) + encode_field(METADATA_FIELD, entry)


@st.composite
def batch_items_with_invalid_utf8(draw: st.DrawFn) -> bytes:
    """A RouteBatchRequest of valid items but one, whose text or metadata holds invalid UTF-8."""
    items = [encode_field(BATCH_ITEM_FIELD, serialized(item)) for item in draw(st.lists(valid_requests))]
    bad_item = encode_field(BATCH_ITEM_FIELD, draw(route_requests_with_invalid_utf8()))
    return b"".join(_inserted(items, bad_item, draw(st.integers(0, len(items)))))


@st.composite
def unknown_fields(draw: st.DrawFn) -> bytes:
    """One field this version of the proto does not define, which a parser must skip."""
    number = draw(st.integers(FIRST_UNKNOWN_FIELD, 18_999))  # 19,000-19,999 are reserved by protobuf itself
    wire_type = draw(st.sampled_from(sorted(WIRE_TYPES)))
    tag = encode_varint(number << 3 | WIRE_TYPES[wire_type])
    if wire_type == "varint":
        return tag + encode_varint(draw(st.integers(0, 2**64 - 1)))
    if wire_type == "length_delimited":
        return encode_field(number, draw(st.binary(max_size=20)))
    return tag + draw(st.binary(min_size=FIXED_SIZES[wire_type], max_size=FIXED_SIZES[wire_type]))


@st.composite
def requests_with_unknown_fields(draw: st.DrawFn) -> FuzzCase:
    """A valid RouteRequest followed by fields it does not define: still valid."""
    payload = serialized(draw(valid_requests)) + b"".join(draw(st.lists(unknown_fields(), min_size=1)))
    return FuzzCase("valid_unknown_fields", ROUTE, payload, OK, tasks=1)


# Hypothesis's own bytes lean towards zeros and short strings; a seeded Random adds evenly spread ones.
random_payloads = st.binary(max_size=200) | st.builds(
    lambda generator, size: generator.randbytes(size), st.randoms(use_true_random=True), st.integers(1, 200)
)


def _random_case(method: str, payload: bytes) -> FuzzCase:
    return FuzzCase("random_bytes", method, payload, ANSWERED)


def _bad_case(kind: str, payload: bytes, method: str = ROUTE) -> FuzzCase:
    return FuzzCase(kind, method, payload, INVALID)


def _oversized(method: str, extra: int) -> FuzzCase:
    message = encode_field(TEXT_FIELD, b"x" * (MAX_MESSAGE_BYTES + extra))
    payload = message if method == ROUTE else encode_field(BATCH_ITEM_FIELD, message)
    return FuzzCase("over_transport_limit", method, payload, TOO_LARGE)


VALID_KINDS = ("valid_unknown_fields", "valid_batch", "valid")  # the kinds whose every case must get a decision
# The mix of cases: kind -> (percent of the calls, cases). Each kind gets its own run, so the shares are exact, and
# the valid kinds run last: had a bad request damaged the server (a leaked admission slot, a poisoned cache), the
# valid requests after it would show it.
CASE_MIX: dict[str, tuple[float, st.SearchStrategy[FuzzCase]]] = {
    "random_bytes": (10, st.builds(_random_case, st.sampled_from([ROUTE, ROUTE_BATCH]), random_payloads)),
    "truncated": (7, truncated_messages()),
    "flipped_byte": (7, flipped_messages()),
    "invalid_utf8": (5, route_requests_with_invalid_utf8().map(lambda payload: _bad_case("invalid_utf8", payload))),
    "invalid_utf8_batch_item": (
        2.5,
        batch_items_with_invalid_utf8().map(lambda payload: _bad_case("invalid_utf8_batch_item", payload, ROUTE_BATCH)),
    ),
    "over_transport_limit": (0.5, st.builds(_oversized, st.sampled_from([ROUTE, ROUTE_BATCH]), st.integers(1, 1024))),
    **{kind: (share, route_cases(kind, requests, INVALID)) for kind, (share, requests) in BAD_FIELDS.items()},
    "text_over_limit": (2, route_cases("text_over_limit", requests_over_the_text_limit, INVALID)),
    "batch_size_out_of_range": (
        2,
        batch_cases(
            "batch_size_out_of_range",
            st.just(_batch([]))
            | st.builds(
                lambda item, extra: _batch([item] * (MAX_BATCH_REQUESTS + extra)), valid_requests, st.integers(1, 8)
            ),
            INVALID,
        ),
    ),
    "batch_with_bad_item": (
        4,
        batch_cases(
            "batch_with_bad_item",
            st.builds(
                lambda items, bad, position: _batch(_inserted(items, bad, position)),
                st.lists(valid_requests, max_size=3),
                bad_requests,
                st.integers(0, 3),
            ),
            INVALID,
        ),
    ),
    "valid_unknown_fields": (5, requests_with_unknown_fields()),
    "valid_batch": (8, batch_cases("valid_batch", valid_batches, OK)),
    "valid": (28, route_cases("valid", valid_requests, OK)),
}


# --- the write paths: decisions, outcomes, quality scores, attempts, labels -----------------------------------------

# Valid reports take their label keys from these only, so none can take a decision over the per-decision limit; label
# floods draw keys of their own, and the fuzz works out from the labels stored which of them must be refused.
LABEL_KEYS = tuple(f"label{number}" for number in range(MAX_LABELS))
OUTCOMES = (pb.ATTEMPT_OUTCOME_ACCEPTED, pb.ATTEMPT_OUTCOME_INVALID, pb.ATTEMPT_OUTCOME_PROVIDER_ERROR)
# What a name may not hold: C0 controls, DEL, C1 controls (Unicode category Cc).
CONTROLS = tuple(chr(code) for code in (*range(0x20), *range(0x7F, 0xA0)))
# Figures no report may carry, whatever the field: NaN, the infinities, the largest doubles, negatives.
ABSURD_FIGURES = (math.nan, math.inf, -math.inf, 1e308, sys.float_info.max, -1.0, -sys.float_info.min)
MODEL_NAMES = ("gpt-5-mini", "claude-sonnet-4-6", "qwen3.5-397b-self-hosted", "gpt-5.2")

names = st.text(st.characters(exclude_categories=["Cc", "Cs"]), max_size=16)
label_values = st.text(characters, max_size=16) | st.builds(
    lambda value: (value * MAX_LABEL_VALUE_CHARS)[:MAX_LABEL_VALUE_CHARS], st.text(characters, min_size=1, max_size=4)
)
valid_labels = st.dictionaries(st.sampled_from(LABEL_KEYS), label_values, max_size=4)
flood_labels = st.builds(
    lambda prefix, count: {f"{prefix}{number}": "x" for number in range(count)},
    st.text(alphabet=string.ascii_lowercase, min_size=1, max_size=6),
    st.integers(1, MAX_LABELS),
)
validator_kinds = st.text(alphabet=METADATA_KEY_ALPHABET, min_size=1, max_size=MAX_VALIDATOR_CHARS)


def _long(text: str, size: int) -> str:
    """``text`` repeated to ``size`` characters: long strings drawn in a few steps, not one character at a time."""
    return (text * size)[:size]


# Messages of any length: the store keeps the first 4,096 characters of a longer one.
messages = st.text(characters, max_size=40) | st.builds(
    _long, st.text(characters, min_size=1, max_size=8), st.integers(MAX_STORED_MESSAGE_CHARS - 8, 12_000)
)
valid_attempts = st.builds(
    pb.Attempt,
    model=st.sampled_from(MODEL_NAMES) | names.filter(lambda name: not is_blank(name)),
    outcome=st.sampled_from(OUTCOMES),
    latency_ms=st.floats(0, MAX_LATENCY_MS),
    input_tokens=st.integers(0, MAX_TOKENS),
    output_tokens=st.integers(0, MAX_TOKENS),
    cost_usd=st.floats(0, MAX_COST_USD),
    validator=st.just("") | names,
    message=messages,
    error_class=st.sampled_from(["", "RateLimitError"]) | names,
    passed_validators=st.lists(validator_kinds, max_size=3),
)


def over(limit: int) -> st.SearchStrategy[str]:
    """Strings over ``limit`` characters, now and then a million of them (in ASCII: a million characters of four
    UTF-8 bytes each would come near the transport limit)."""
    a_little_over = st.builds(_long, st.text(characters, min_size=1, max_size=8), st.integers(limit + 1, limit + 64))
    return a_little_over | st.builds(_long, st.text(string.printable, min_size=1, max_size=8), st.just(1_000_000))


with_a_control = st.builds(_with, names, st.sampled_from(CONTROLS), cuts)
out_of_range_tokens = st.integers(MAX_TOKENS + 1, INT64_MAX) | st.integers(-(2**63), -1)
# One attempt field wrong: kind -> (percent of the write calls, field -> its bad values).
BAD_ATTEMPT_FIELDS: dict[str, tuple[float, dict[str, st.SearchStrategy[Any]]]] = {
    "name_over_limit": (
        5,
        {
            "model": over(MAX_MODEL_NAME_CHARS),
            "validator": over(MAX_VALIDATOR_CHARS),
            "error_class": over(MAX_ERROR_CLASS_CHARS),
        },
    ),
    "control_in_name": (5, {"model": with_a_control, "validator": with_a_control, "error_class": with_a_control}),
    "nul_in_message": (2, {"message": st.builds(_with, messages, st.just("\x00"), cuts)}),
    "absurd_figure": (
        8,
        {
            "latency_ms": st.sampled_from(ABSURD_FIGURES) | st.floats(MAX_LATENCY_MS, exclude_min=True),
            "cost_usd": st.sampled_from(ABSURD_FIGURES) | st.floats(MAX_COST_USD, exclude_min=True),
        },
    ),
    "tokens_out_of_range": (3, {"input_tokens": out_of_range_tokens, "output_tokens": out_of_range_tokens}),
    "bad_passed_validators": (
        2,
        {
            "passed_validators": st.lists(validator_kinds, min_size=MAX_PASSED_VALIDATORS + 1, max_size=40)
            | st.lists(bad_metadata_keys, min_size=1, max_size=2)
        },
    ),
}
bad_labels = st.one_of(
    st.builds(
        lambda key, value, cut: {key: _with(value, "\x00", cut)}, st.sampled_from(LABEL_KEYS), label_values, cuts
    ),
    st.builds(lambda key, value: {key: value + "v" * MAX_LABEL_VALUE_CHARS}, st.sampled_from(LABEL_KEYS), label_values),
    st.dictionaries(bad_metadata_keys, st.text(max_size=8), min_size=1, max_size=2),
    st.integers(MAX_LABELS + 1, MAX_LABELS + 8).map(lambda count: {f"many{number}": "x" for number in range(count)}),
)
bad_decision_ids = st.one_of(
    blank_texts,
    over(MAX_DECISION_ID_CHARS),
    st.builds(_with, st.text(alphabet="0123456789abcdef", max_size=32), st.sampled_from(CONTROLS), cuts),
)
valid_attempt_lists = st.lists(valid_attempts, max_size=4)
valid_scores = st.integers(1, 5)
optional_scores = st.none() | valid_scores
bad_scores = st.integers(-(2**31), 0) | st.integers(6, INT32_MAX)
# x-request-id values as callers send them (printable ASCII: grpc sends no other): the server keeps one of 1-128
# characters of [A-Za-z0-9._:-] in the decision's row and makes up its own for any other.
request_ids = st.text(alphabet=string.ascii_letters + string.digits + "._:-", min_size=1, max_size=140) | st.text(
    alphabet=string.printable.strip(), min_size=1, max_size=200
)


@st.composite
def attempt_with_a_bad_field(draw: st.DrawFn, fields: dict[str, st.SearchStrategy[Any]]) -> pb.Attempt:
    """A valid attempt but for one of ``fields``."""
    attempt = draw(valid_attempts)
    name = draw(st.sampled_from(sorted(fields)))
    if name == "passed_validators":
        del attempt.passed_validators[:]
        attempt.passed_validators.extend(draw(fields[name]))
    else:
        setattr(attempt, name, draw(fields[name]))
    return attempt


def _outcome(
    decision_id: str, attempts: list[pb.Attempt], accepted: bool, score: int | None, labels: dict[str, str]
) -> pb.ReportOutcomeRequest:
    return pb.ReportOutcomeRequest(
        decision_id=decision_id, attempts=attempts, accepted=accepted, quality_score=score, labels=labels
    )


def report_cases(
    kind: str, reports: st.SearchStrategy[Message], expected: frozenset[grpc.StatusCode]
) -> st.SearchStrategy[FuzzCase]:
    """ReportOutcome or ReportQuality calls (by the message's type) with each report, serialized."""

    def case(message: Message) -> FuzzCase:
        method = REPORT_OUTCOME if isinstance(message, pb.ReportOutcomeRequest) else REPORT_QUALITY
        return FuzzCase(kind, method, serialized(message), expected)

    return reports.map(case)


def with_request_ids(cases: st.SearchStrategy[FuzzCase]) -> st.SearchStrategy[FuzzCase]:
    """The cases, each sent with an ``x-request-id`` of the caller's."""
    return st.builds(
        lambda case, request_id: dataclasses.replace(case, metadata=((REQUEST_ID_KEY, request_id),)), cases, request_ids
    )


WRITE_VALID_KINDS = ("valid_batch", "valid_route", "valid_quality", "valid_outcome")


def write_case_mix(
    decision_ids: st.SearchStrategy[str], flooded_ids: st.SearchStrategy[str]
) -> dict[str, tuple[float, st.SearchStrategy[FuzzCase]]]:
    """The write-path fuzz's mix, kind -> (percent of the calls, cases): reports name decisions of ``decision_ids``
    (label floods: of ``flooded_ids``); routing calls make decisions of their own. The valid kinds come last."""

    def outcomes(
        ids: st.SearchStrategy[str] = decision_ids,
        attempts: st.SearchStrategy[list[pb.Attempt]] = valid_attempt_lists,
        scores: st.SearchStrategy[int | None] = optional_scores,
        labels: st.SearchStrategy[dict[str, str]] = valid_labels,
    ) -> st.SearchStrategy[Message]:
        return st.builds(_outcome, ids, attempts, st.booleans(), scores, labels)

    def qualities(
        ids: st.SearchStrategy[str] = decision_ids,
        scores: st.SearchStrategy[int] = valid_scores,
        labels: st.SearchStrategy[dict[str, str]] = valid_labels,
    ) -> st.SearchStrategy[Message]:
        return st.builds(pb.ReportQualityRequest, decision_id=ids, score=scores, labels=labels)

    def one_bad(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[list[pb.Attempt]]:
        return st.builds(
            _inserted, st.lists(valid_attempts, max_size=3), attempt_with_a_bad_field(fields), st.integers(0, 3)
        )

    bad_reports: dict[str, tuple[float, st.SearchStrategy[Message]]] = {
        **{kind: (share, outcomes(attempts=one_bad(fields))) for kind, (share, fields) in BAD_ATTEMPT_FIELDS.items()},
        "too_many_attempts": (2, outcomes(attempts=st.lists(valid_attempts, min_size=MAX_ATTEMPTS + 1, max_size=40))),
        "bad_decision_id": (3, outcomes(ids=bad_decision_ids) | qualities(ids=bad_decision_ids)),
        "bad_score": (2, outcomes(scores=bad_scores) | qualities(scores=bad_scores)),
        "bad_labels": (3, outcomes(labels=bad_labels) | qualities(labels=bad_labels)),
    }
    floods = outcomes(ids=flooded_ids, labels=flood_labels) | qualities(ids=flooded_ids, labels=flood_labels)
    bad_routes = {kind: BAD_FIELDS[kind][1] for kind in ("nul_in_text", "input_tokens_over_limit")}
    return {
        **{kind: (share, report_cases(kind, reports, INVALID)) for kind, (share, reports) in bad_reports.items()},
        **{kind: (3, with_request_ids(route_cases(kind, requests, INVALID))) for kind, requests in bad_routes.items()},
        "label_flood": (8, report_cases("label_flood", floods, OK)),  # OK until the decision's labels are full
        "valid_batch": (5, with_request_ids(batch_cases("valid_batch", valid_batches, OK))),
        "valid_route": (10, with_request_ids(route_cases("valid_route", valid_requests, OK))),
        "valid_quality": (12, report_cases("valid_quality", qualities(), OK)),
        "valid_outcome": (24, report_cases("valid_outcome", outcomes(), OK)),
    }

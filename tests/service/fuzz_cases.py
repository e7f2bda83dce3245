"""Hypothesis strategies for the service fuzz: valid requests, requests with one bad field, and malformed wire bytes.

Each strategy yields a :class:`FuzzCase`: the method to call, the raw request bytes and the status codes the call may
end with. The malformed messages are encoded by hand (:func:`encode_field`) because the protobuf library refuses to
serialise what they hold, such as invalid UTF-8 in a string field.
"""

from __future__ import annotations

import dataclasses
import re
import string
import sys
from typing import Any

import grpc
from google.protobuf.message import Message
from hypothesis import strategies as st

from semroute.router import MAX_METADATA_ENTRIES, MAX_METADATA_VALUE_CHARS, MAX_TEXT_CHARS, MAX_TOP_K
from semroute.service import MAX_BATCH_REQUESTS, MAX_MESSAGE_BYTES
from semroute.v1 import router_pb2 as pb

ROUTE = "Route"
ROUTE_BATCH = "RouteBatch"

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
        method: ``Route`` or ``RouteBatch``.
        payload: The serialized request, possibly malformed.
        expected: The acceptable status codes.
        tasks: How many decisions an OK answer must hold; 0 when the payload is random (then: at least one).
    """

    kind: str
    method: str
    payload: bytes
    expected: frozenset[grpc.StatusCode]
    tasks: int = 0

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

task_texts = st.one_of(
    st.lists(st.sampled_from(TASK_WORDS), min_size=1, max_size=8).map(" ".join),
    st.text(min_size=1, max_size=40).filter(lambda text: not is_blank(text)),  # any unicode, controls included
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
    "input_tokens": st.none() | st.integers(0, 1_000_000) | st.integers(0, INT64_MAX),
    "full_trace": st.booleans(),
}


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
    "valid": (32, route_cases("valid", valid_requests, OK)),
}

"""A bounded cache of query vectors, for tasks the server has embedded before.

What is cached is the embedding, not the decision: a hit skips the model and nothing else, so every call still gets
its candidates scored and decided on the index in service (a reload never answers from the old index), a decision id
of its own, its record in the outcome store, and its learned routes' estimates and exploration draw (a hash of the
text under the router's salt: the same with or without the cache).

The key is the SHA-256 of what the model reads (the embedded part of the text) and of the model's identity; the
text itself is never kept. Entries are evicted least recently used first, beyond ``max_entries`` or ``max_bytes``
(vectors and keys together).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

import numpy as np

from semroute.embedding import ModelIdentity, Vectors

DEFAULT_CACHE_ENTRIES = 8_192  # about 13 MiB of 384-dimension vectors
DEFAULT_CACHE_BYTES = 32 * 1024 * 1024
_ENTRY_OVERHEAD_BYTES = 200  # dictionary slot, key and array objects: counted so that tiny vectors stay bounded too


def cache_key(identity: ModelIdentity, embedded: str) -> bytes:
    """The key of a text's vector: SHA-256 of the model's identity and of the part of the text the model reads."""
    digest = hashlib.sha256()
    digest.update(f"{identity.model_id}\0{identity.sha256}\0{identity.max_tokens}\0".encode())
    digest.update(embedded.encode("utf-8", "surrogatepass"))
    return digest.digest()


class VectorCache:
    """Query vectors by :func:`cache_key`, least recently used out first (thread-safe)."""

    def __init__(self, max_entries: int = DEFAULT_CACHE_ENTRIES, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        """Hold at most ``max_entries`` vectors taking at most ``max_bytes`` together."""
        if min(max_entries, max_bytes) < 1:
            raise ValueError(f"cache bounds must be at least 1, got {max_entries} entries and {max_bytes} bytes")
        self._max_entries = max_entries
        self._max_bytes = max_bytes
        self._entries: OrderedDict[bytes, Vectors] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def size_bytes(self) -> int:
        """What the entries take, vectors and keys, by the count this cache bounds."""
        return self._bytes

    def get(self, key: bytes) -> Vectors | None:
        """The ``(1, dim)`` vector stored under ``key`` (read-only), or None."""
        with self._lock:
            vector = self._entries.get(key)
            if vector is not None:
                self._entries.move_to_end(key)
            return vector

    def put(self, key: bytes, vector: Vectors) -> None:
        """Keep a copy of ``vector`` (one row) under ``key``, evicting the least recently used beyond the bounds."""
        stored = np.array(vector, dtype=np.float32, copy=True).reshape(1, -1)  # a copy: never a view of a batch
        stored.flags.writeable = False
        size = _size(key, stored)
        if size > self._max_bytes:
            return
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= _size(key, previous)
            self._entries[key] = stored
            self._bytes += size
            while len(self._entries) > self._max_entries or self._bytes > self._max_bytes:
                old_key, old = self._entries.popitem(last=False)
                self._bytes -= _size(old_key, old)

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def _size(key: bytes, vector: Vectors) -> int:
    return len(key) + vector.nbytes + _ENTRY_OVERHEAD_BYTES

"""Pluggable payload codec, e.g. for encryption or compression of stored payloads."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class PayloadCodec(Protocol):
    """Transforms stored payload bytes. Must be deterministic to decode what it encoded.

    When an app has a codec, every payload (inputs, results, event data) is stored in the binary
    column as ``codec.encode(bytes)``; JSON values are serialized to UTF-8 JSON first. Values stored
    this way cannot be queried by field (``input_equals``).
    """

    def encode(self, data: bytes) -> bytes:
        """Encode bytes before they are stored."""
        ...

    def decode(self, data: bytes) -> bytes:
        """Decode bytes after they are loaded."""
        ...

"""Turning Python values into stored payloads and back, hashing arguments, recording errors.

JSON values go to JSON columns; ``bytes`` stay bytes (no base64). Pydantic models, dataclasses,
enums, datetimes and UUIDs are converted to JSON with pydantic; typed reading goes through a
cached ``TypeAdapter`` of the annotation so a replayed value has the same type as a live one.
"""

from __future__ import annotations

import builtins
import hashlib
import importlib
import json
import sys
import traceback
from functools import lru_cache
from typing import Any, cast

from pydantic import TypeAdapter
from pydantic_core import PydanticSerializationError, to_jsonable_python

from durable_core.codec import PayloadCodec
from durable_core.errors import RecordedError
from durable_core.types import ErrorInfo, JsonValue, Payload, PayloadEncoding
from durable_core.validation import check_storable, escape_unstorable

_BINARY = (bytes, bytearray, memoryview)


class Serializer:
    """Encodes values into :class:`Payload` objects, optionally through a :class:`PayloadCodec`."""

    def __init__(self, codec: PayloadCodec | None = None) -> None:
        self._codec = codec

    def encode(self, value: Any, field: str = "value") -> Payload:
        """Store ``value``: bytes as bytes, anything else as JSON.

        Args:
            value: what to store.
            field: what it is, for error messages (``"input"``, ``"data"``, ...).

        Raises:
            TypeError: the value cannot be represented as JSON.
            InputValidationError: a string in it holds a NUL character or a lone surrogate, which no
                database stores alike (see :mod:`durable_core.validation`), naming where.
        """
        if isinstance(value, _BINARY):
            raw = bytes(value)
            if self._codec is None:
                return Payload(PayloadEncoding.BYTES, blob=raw)
            return Payload(PayloadEncoding.CODEC_BYTES, blob=self._codec.encode(raw))
        json_value = to_json_value(value)
        check_storable(field, json_value)
        if self._codec is None:
            return Payload(PayloadEncoding.JSON, json_value=json_value)
        text = json.dumps(json_value, separators=(",", ":"), ensure_ascii=False).encode()
        return Payload(PayloadEncoding.CODEC_JSON, blob=self._codec.encode(text))

    def decode(self, payload: Payload) -> Any:
        """The JSON value or bytes a payload holds (``None`` for an empty payload)."""
        encoding = payload.encoding
        if encoding is PayloadEncoding.NONE:
            return None
        if encoding is PayloadEncoding.JSON:
            return payload.json_value
        if encoding is PayloadEncoding.BYTES:
            return payload.blob
        if self._codec is None:
            raise RecordedError(f"payload was stored with a codec ({encoding.value}) but this app has none")
        raw = self._codec.decode(payload.blob or b"")
        if encoding is PayloadEncoding.CODEC_BYTES:
            return raw
        return json.loads(raw)


def to_json_value(value: Any) -> JsonValue:
    """Convert a value to plain JSON data (dict/list/str/int/float/bool/None).

    Raises:
        TypeError: naming the type that cannot be serialized.
    """
    try:
        return cast(JsonValue, to_jsonable_python(value, bytes_mode="base64"))
    except PydanticSerializationError as exc:
        raise TypeError(f"value of type {type(value).__name__} is not JSON-serializable: {exc}") from None


@lru_cache(maxsize=1024)
def adapter_for(annotation: Any) -> TypeAdapter[Any]:
    """A cached pydantic ``TypeAdapter`` for a type annotation."""
    return TypeAdapter(annotation)


def convert(value: Any, annotation: Any) -> Any:
    """Validate a JSON value (or bytes) into ``annotation``; ``Any``/missing annotations pass through."""
    if annotation is Any or annotation is None or annotation is type(None):
        return value
    return adapter_for(annotation).validate_python(value)


def args_hash(args: JsonValue) -> str:
    """A short stable hash of JSON arguments (key order does not matter)."""
    text = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def error_to_info(exc: BaseException) -> ErrorInfo:
    """Record an exception: type path, message, JSON-able args, traceback, and its cause."""
    cls = type(exc)
    try:
        args: JsonValue = to_json_value(list(exc.args))
        json.dumps(args)
    except (TypeError, ValueError):
        args = None
    if args is not None:
        try:
            check_storable("args", args)
        except ValueError:
            args = None  # rebuilt from the (escaped) message instead
    cause = exc.__cause__
    # Escaped so that recording an error can never be the write the database refuses.
    return ErrorInfo(
        type_name=f"{cls.__module__}:{cls.__qualname__}",
        message=escape_unstorable(str(exc)),
        args=args,
        traceback=escape_unstorable("".join(traceback.format_exception(exc))),
        cause=error_to_info(cause) if isinstance(cause, Exception) else None,
    )


def info_to_exception(info: ErrorInfo) -> Exception:
    """Rebuild a recorded exception with its original type, or :class:`RecordedError` if impossible."""
    exc = _rebuild(info)
    if info.cause is not None:
        exc.__cause__ = info_to_exception(info.cause)
    return exc


def _rebuild(info: ErrorInfo) -> Exception:
    cls = _resolve_exception_type(info.type_name)
    if cls is not None:
        candidates: list[tuple[Any, ...]] = []
        if isinstance(info.args, list):
            candidates.append(tuple(info.args))
        candidates.append((info.message,))
        for args in candidates:
            try:
                exc = cls(*args)
            except Exception:
                continue
            if str(exc) == info.message or args == (info.message,):
                return exc
    return RecordedError(f"{info.type_name}: {info.message}", info.type_name)


def _resolve_exception_type(type_name: str) -> type[Exception] | None:
    module_name, _, qualname = type_name.partition(":")
    if not qualname:
        return None
    if module_name == "builtins":
        obj: Any = builtins
    else:
        obj = sys.modules.get(module_name)
        if obj is None:
            try:
                obj = importlib.import_module(module_name)
            except Exception:
                return None
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    if isinstance(obj, type) and issubclass(obj, Exception):
        return obj
    return None

"""JSON documents on Kafka: many contract structs encoded in one call."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

__all__ = ["encode_each"]

_encoder = msgspec.json.Encoder()


def encode_each(documents: Sequence[msgspec.Struct]) -> list[bytes]:
    """The JSON bytes of each document, from one ``encode_lines`` call (JSON strings never
    hold a raw newline, so splitting on it is safe)."""
    if not documents:
        return []
    return _encoder.encode_lines(documents).split(b"\n")[:-1]

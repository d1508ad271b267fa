"""Write ONNX models as bytes without the ``onnx`` package (whose import alone takes over a second).

An ONNX model is a protocol-buffers message; this module encodes the few message types a plain
convolutional graph needs (model, graph, node, attribute, tensor, value info) in the protobuf wire
format: each field is a key ``(number << 3) | wire type`` followed by a varint (wire type 0) or a
length-prefixed payload (wire type 2). Field numbers are those of onnx.proto; tests parse the
output with the ``onnx`` package when it is installed and run it with ONNX Runtime.

Example::

    >>> import numpy as np
    >>> g = graph("relu", [node("Relu", ["x"], ["y"])], [], [value_info("x", ["N", 4])],
    ...           [value_info("y", ["N", 4])])
    >>> model(g)[:4].hex()  # ir_version field, then the producer name
    '08081207'
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

IR_VERSION = 8
OPSET = 17
FLOAT, INT64 = 1, 7  # TensorProto.DataType
_ATTR_FLOAT, _ATTR_INT, _ATTR_STRING, _ATTR_INTS = 1, 2, 3, 7  # AttributeProto.AttributeType


def _varint(v: int) -> bytes:
    if v < 0:
        v += 1 << 64  # int64 two's complement, as protobuf encodes negative int64 values
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _int(field: int, v: int) -> bytes:
    return _varint(field << 3) + _varint(int(v))


def _bytes(field: int, payload: bytes | str) -> bytes:
    data = payload.encode("utf-8") if isinstance(payload, str) else payload
    return _varint((field << 3) | 2) + _varint(len(data)) + data


def _float(field: int, v: float) -> bytes:
    return _varint((field << 3) | 5) + np.float32(v).tobytes()


def attribute(name: str, value: int | float | str | Sequence[int]) -> bytes:
    """An AttributeProto: int, float, string, or a list of ints."""
    out = _bytes(1, name)
    if isinstance(value, (int, np.integer)):  # bool included
        return out + _int(3, int(value)) + _int(20, _ATTR_INT)
    if isinstance(value, float):
        return out + _float(2, value) + _int(20, _ATTR_FLOAT)
    if isinstance(value, str):
        return out + _bytes(4, value) + _int(20, _ATTR_STRING)
    return out + b"".join(_int(8, int(v)) for v in value) + _int(20, _ATTR_INTS)


def node(op: str, inputs: Sequence[str], outputs: Sequence[str], name: str = "",
         **attrs: int | float | str | Sequence[int]) -> bytes:
    """A NodeProto of the default (ai.onnx) domain; an input "" marks an omitted optional input."""
    out = b"".join(_bytes(1, i) for i in inputs) + b"".join(_bytes(2, o) for o in outputs)
    out += _bytes(3, name or outputs[0]) + _bytes(4, op)
    return out + b"".join(_bytes(5, attribute(k, v)) for k, v in attrs.items())


def tensor(name: str, array: np.ndarray) -> bytes:
    """A TensorProto initializer (float32 or int64) with its data as little-endian raw bytes."""
    a = np.asarray(array)
    if a.dtype == np.float32:
        kind = FLOAT
    elif a.dtype == np.int64:
        kind = INT64
    else:
        raise ValueError(f"tensor {name!r}: only float32 and int64 initializers are written, not {a.dtype}")
    dims = b"".join(_int(1, d) for d in a.shape)
    raw = np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")).tobytes()
    return dims + _int(2, kind) + _bytes(8, name) + _bytes(9, raw)


def value_info(name: str, shape: Sequence[int | str], elem_type: int = FLOAT) -> bytes:
    """A ValueInfoProto of a tensor; a str dimension is symbolic (its size is set at run time)."""
    dims = b"".join(_bytes(1, _bytes(2, d) if isinstance(d, str) else _int(1, d)) for d in shape)
    tensor_type = _int(1, elem_type) + _bytes(2, dims)
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def graph(name: str, nodes: Sequence[bytes], initializers: Sequence[bytes], inputs: Sequence[bytes],
          outputs: Sequence[bytes]) -> bytes:
    """A GraphProto; nodes must be in topological order."""
    return (b"".join(_bytes(1, n) for n in nodes) + _bytes(2, name)
            + b"".join(_bytes(5, t) for t in initializers)
            + b"".join(_bytes(11, i) for i in inputs) + b"".join(_bytes(12, o) for o in outputs))


def model(graph_bytes: bytes, producer: str = "echoseg") -> bytes:
    """A ModelProto around ``graph_bytes`` (IR version 8, opset 17 of the default domain)."""
    opset = _bytes(1, "") + _int(2, OPSET)
    return _int(1, IR_VERSION) + _bytes(2, producer) + _bytes(8, opset) + _bytes(7, graph_bytes)

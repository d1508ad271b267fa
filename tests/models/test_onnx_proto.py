"""echoseg.models.onnx_proto: the wire format, checked against the onnx package's own parser."""
from __future__ import annotations

import numpy as np
import pytest

from echoseg.models import onnx_proto as pb


def test_varints():
    assert pb._varint(0) == b"\x00"
    assert pb._varint(1) == b"\x01"
    assert pb._varint(300) == b"\xac\x02"  # the protobuf documentation's example
    assert pb._varint(-1) == b"\xff" * 9 + b"\x01"  # int64 two's complement, ten bytes


def test_tensor_rejects_other_dtypes():
    with pytest.raises(ValueError, match="float64"):
        pb.tensor("w", np.zeros(3))


def test_messages_parse_with_the_onnx_package():
    onnx = pytest.importorskip("onnx")
    from onnx import numpy_helper

    w = np.arange(6, dtype=np.float32).reshape(2, 3)
    g = pb.graph("g", [pb.node("Gemm", ["x", "w"], ["y"], transB=1, alpha=0.5),
                       pb.node("Softmax", ["y"], ["z"], axis=-1),
                       pb.node("Resize", ["z", "", "s"], ["r"], mode="linear", name="up")],
                 [pb.tensor("w", w), pb.tensor("s", np.array([1, 2], np.int64))],
                 [pb.value_info("x", ["N", 3])], [pb.value_info("r", ["N", 2])])
    m = onnx.load_from_string(pb.model(g))
    assert m.ir_version == pb.IR_VERSION and m.opset_import[0].version == pb.OPSET
    assert [n.op_type for n in m.graph.node] == ["Gemm", "Softmax", "Resize"]
    gemm, soft, up = m.graph.node
    assert {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute} == {"transB": 1, "alpha": 0.5}
    assert onnx.helper.get_attribute_value(soft.attribute[0]) == -1
    assert up.name == "up" and list(up.input) == ["z", "", "s"]
    assert onnx.helper.get_attribute_value(up.attribute[0]) == b"linear"
    np.testing.assert_array_equal(numpy_helper.to_array(m.graph.initializer[0]), w)
    np.testing.assert_array_equal(numpy_helper.to_array(m.graph.initializer[1]), [1, 2])
    dims = m.graph.input[0].type.tensor_type.shape.dim
    assert (dims[0].dim_param, dims[1].dim_value) == ("N", 3)

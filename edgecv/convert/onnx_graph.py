"""ONNX graph edits for conversion: fix the input size, rename or split outputs, store metadata."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from ..errors import ConversionError, ConverterNotFoundError, InvalidInputError
from ..store.metadata import METADATA_KEY

# Ops that only move data: a score reaching an output through them still "ends in" its Sigmoid.
_SHAPE_OPS = {"Reshape", "Transpose", "Flatten", "Squeeze", "Unsqueeze", "Identity"}


def import_onnx():
    try:
        import onnx
    except ImportError as exc:
        raise ConverterNotFoundError("the 'onnx' package is needed to convert models: pip install onnx") from exc
    return onnx


def load(path: Path):
    onnx = import_onnx()
    try:
        return onnx.load(str(path))
    except Exception as exc:
        raise ConversionError(f"cannot read ONNX model {path}: {exc}") from exc


def graph_inputs(model) -> list:
    """The model's real inputs (graph inputs that are not initializers), in order."""
    initializers = {i.name for i in model.graph.initializer}
    return [i for i in model.graph.input if i.name not in initializers]


def single_input(model):
    inputs = graph_inputs(model)
    if len(inputs) != 1:
        raise ConversionError(f"expected one image input, the model has {[i.name for i in inputs]}")
    return inputs[0]


def input_dims(value_info) -> List[Optional[int]]:
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in value_info.type.tensor_type.shape.dim]


def set_input_size(model, hw: Tuple[int, int]) -> None:
    """Make the image input static [1, C, H, W] and forget stale output shapes."""
    inp = single_input(model)
    dims = inp.type.tensor_type.shape.dim
    if len(dims) != 4:
        raise ConversionError(f"input '{inp.name}' has rank {len(dims)}; expected NCHW")
    fixed = input_dims(inp)
    for axis, value in ((2, hw[0]), (3, hw[1])):
        if fixed[axis] is not None and fixed[axis] != value:
            raise InvalidInputError(f"input '{inp.name}' is fixed to {fixed[2]}x{fixed[3]}; cannot use {hw[0]}x{hw[1]}")
    for axis, value in ((0, 1), (2, hw[0]), (3, hw[1])):
        dims[axis].Clear()
        dims[axis].dim_value = value
    del model.graph.value_info[:]  # stale intermediate shapes; outputs get set_output_shapes()


def set_output_shapes(model, shapes: Mapping[str, Sequence[int]]) -> None:
    """Write measured output shapes into the graph's output declarations."""
    for out in model.graph.output:
        if out.name in shapes:
            dims = out.type.tensor_type.shape.dim
            del dims[:]
            for v in shapes[out.name]:
                dims.add().dim_value = int(v)


def output_shapes(model, input_hw: Tuple[int, int]) -> Dict[str, Tuple[int, ...]]:
    """Actual output shapes, by running the model once on zeros with ONNX Runtime."""
    from ..engines.base import import_engine_package

    ort = import_engine_package("onnxruntime", "onnxruntime")
    inp = single_input(model)
    channels = input_dims(inp)[1] or 3
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # declared output shapes may be stale until set_output_shapes()
    sess = ort.InferenceSession(model.SerializeToString(), sess_options=opts, providers=["CPUExecutionProvider"])
    feed = {inp.name: np.zeros((1, channels, *input_hw), np.float32)}
    names = [o.name for o in model.graph.output]
    return {n: tuple(v.shape) for n, v in zip(names, sess.run(names, feed))}


def sigmoid_outputs(model) -> set:
    """Graph outputs produced by a Sigmoid, possibly followed by reshapes/transposes."""
    producer = {o: n for n in model.graph.node for o in n.output}
    found = set()
    for out in model.graph.output:
        node = producer.get(out.name)
        while node is not None and node.op_type in _SHAPE_OPS:
            node = producer.get(node.input[0])
        if node is not None and node.op_type == "Sigmoid":
            found.add(out.name)
    return found


def _tensor_names(graph) -> set:
    return ({t for n in graph.node for t in (*n.input, *n.output)} | {i.name for i in graph.input}
            | {i.name for i in graph.initializer})


def rename_tensors(model, renames: Dict[str, str]) -> None:
    """Rename tensors everywhere they appear (producers, consumers, graph outputs, value_info)."""
    if not renames:
        return
    graph = model.graph
    existing = _tensor_names(graph)
    clashes = [new for old, new in renames.items() if new in existing and new not in renames and new != old]
    if clashes:
        raise ConversionError(f"cannot rename: tensor name(s) {clashes} already exist in the graph")
    unknown = [old for old in renames if old not in existing]
    if unknown:
        raise InvalidInputError(f"cannot rename: no tensor named {unknown} in the graph")
    for node in graph.node:
        for seq in (node.input, node.output):
            for i, name in enumerate(seq):
                if name in renames:
                    seq[i] = renames[name]
    for vi in (*graph.output, *graph.value_info, *graph.input):
        if vi.name in renames:
            vi.name = renames[vi.name]


def split_channels(model, splits: Dict[str, List[Tuple[str, int, int]]]) -> None:
    """Replace an output by slices of its channels (axis 1), e.g. 57 -> heatmaps 19 + pafs 38."""
    onnx = import_onnx()
    from onnx import TensorProto, helper

    if not splits:
        return
    graph = model.graph
    taken = _tensor_names(graph)
    clashing = {new: f"{new}_before_split" for parts in splits.values() for new, _, _ in parts if new in taken}
    rename_tensors(model, clashing)  # internal tensors that already use a canonical name
    for old, parts in splits.items():
        source = next(o for o in graph.output if o.name == old)
        dims = [d.dim_value if d.HasField("dim_value") else (d.dim_param or f"d{i}")
                for i, d in enumerate(source.type.tensor_type.shape.dim)]
        outputs = [o for o in graph.output if o.name != old]
        for new, start, end in parts:
            consts = [helper.make_tensor(f"{new}_{k}", TensorProto.INT64, [1], [v])
                      for k, v in (("starts", start), ("ends", end), ("axes", 1))]
            graph.initializer.extend(consts)
            graph.node.append(helper.make_node("Slice", [old, *(c.name for c in consts)], [new], name=f"split_{new}"))
            part = [dims[0], end - start, *dims[2:]] if len(dims) == 4 else None
            outputs.append(helper.make_tensor_value_info(new, TensorProto.FLOAT, part))
        del graph.output[:]
        graph.output.extend(outputs)
    onnx.checker.check_model(model)


def set_metadata(model, metadata: dict) -> None:
    props = [p for p in model.metadata_props if p.key != METADATA_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata, sort_keys=True, allow_nan=False)


def save(model, path: Path) -> None:
    import_onnx().save(model, str(path))


def output_names(model) -> Sequence[str]:
    return [o.name for o in model.graph.output]

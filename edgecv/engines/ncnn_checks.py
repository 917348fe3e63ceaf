"""Our own checks of an ncnn model before ncnn parses it: the ``.param`` text (structure, blob wiring, layer
parameters in sane ranges) and the ``.bin`` (its size must be exactly what the layers read).

ncnn's own parser trusts its input: a convolution stride of 2147483647 gave "0 faces" silently, a bad
padding on top of it corrupted the heap, and a ``.bin`` of another model (or a longer one) loaded and
returned garbage. The weights walk mirrors ncnn's ``ModelBin`` reader: a type-0 blob starts with a 4-byte
tag (fp32 raw, fp16 0x01306B47, int8 0x000D4B38, or a 256-entry quantisation table), a type-1 blob is raw
fp32. Layer types whose weights this module does not know stop the walk; the file is then left to the
child-process check (``edgecv.trust``), and the log says so.
"""

from __future__ import annotations

import logging
import math
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

from ..errors import ModelLoadError

log = logging.getLogger(__name__)

MAGIC = "7767517"
MAX_LAYERS = 100_000
MAX_BLOBS_PER_LAYER = 256
MAX_ARRAY = 4096
MAX_PARAM_BYTES = 64 << 20
#: Upper bounds of layer parameters (ids as in ncnn's layer sources).
MAX_CHANNELS = 1 << 16
MAX_KERNEL = 256
MAX_STRIDE = 1024
MAX_DILATION = 1024
MAX_PAD = 4096
MAX_SIZE = 1 << 16
MAX_WEIGHTS = 1 << 30  # elements of one weight blob

Value = Union[int, float, str, List[Union[int, float]]]

#: Layers that read nothing from the .bin.
WEIGHTLESS = frozenset("""
AbsVal ArgMax BNLL BinaryOp Cast Clip Concat CopyTo Crop CumulativeSum DeepCopy DeformableConv2D_dummy Dequantize_dummy
Diag Dropout ELU Einsum Eltwise Erf Exp ExpandDims Flatten Fold GELU GLU GridSample HardSigmoid HardSwish Input Interp
Log LRN MatMul Mish MVN Noop Normalize_dummy Packing Permute PixelShuffle Pooling Pooling1D Pooling3D Power Reduction
ReLU Reorg Reshape SELU Shrink ShuffleChannel Sigmoid Slice Softmax Softplus Split Squeeze Swish TanH Threshold Tile
UnaryOp Unfold
""".split())

_TAG_FP16, _TAG_INT8, _TAG_SCALED = 0x01306B47, 0x000D4B38, 0x0002C056


@dataclass
class Layer:
    kind: str
    name: str
    bottoms: List[str]
    tops: List[str]
    params: Dict[int, Value] = field(default_factory=dict)
    line: int = 0

    def get(self, key: int, default: Value = 0) -> Value:
        return self.params.get(key, default)

    def int(self, key: int, default: int = 0) -> int:
        v = self.params.get(key, default)
        return int(v) if isinstance(v, (int, float)) else default


def _number(text: str) -> Union[int, float]:
    if any(c in text for c in ".eE") and not text.lstrip("-").isdigit():
        v = float(text)
        if not math.isfinite(v):
            raise ValueError("not finite")
        return v
    return int(text)


def parse_param(text: str, origin: str) -> List[Layer]:
    """Parse and check an ncnn .param text; ModelLoadError naming the line otherwise."""
    def bad(line_no: int, why: str) -> ModelLoadError:
        return ModelLoadError(f"{origin}: bad ncnn .param at line {line_no}: {why}")

    lines = text.splitlines()
    if not lines or lines[0].strip() != MAGIC:
        raise ModelLoadError(f"{origin}: not an ncnn .param file (magic {MAGIC} missing)")
    try:
        layer_count, blob_count = (int(v) for v in lines[1].split())
    except (ValueError, IndexError):
        raise bad(2, "expected '<layer count> <blob count>'") from None
    if not (1 <= layer_count <= MAX_LAYERS and 1 <= blob_count <= MAX_LAYERS * 4):
        raise bad(2, f"layer/blob counts {layer_count}/{blob_count} out of range")
    body = [(i + 3, ln) for i, ln in enumerate(lines[2:]) if ln.strip()]
    if len(body) != layer_count:
        raise bad(2, f"declares {layer_count} layers, the file has {len(body)}")
    layers: List[Layer] = []
    produced: set = set()
    for line_no, ln in body:
        tokens = ln.split()
        if len(tokens) < 4:
            raise bad(line_no, "expected 'type name bottoms tops ...'")
        try:
            n_in, n_out = int(tokens[2]), int(tokens[3])
        except ValueError:
            raise bad(line_no, "bottom/top counts are not integers") from None
        if (not (0 <= n_in <= MAX_BLOBS_PER_LAYER and 0 <= n_out <= MAX_BLOBS_PER_LAYER)
                or len(tokens) < 4 + n_in + n_out):
            raise bad(line_no, f"bad blob counts {n_in}/{n_out}")
        bottoms, tops = tokens[4:4 + n_in], tokens[4 + n_in:4 + n_in + n_out]
        missing = [b for b in bottoms if b not in produced]
        if missing:
            raise bad(line_no, f"layer {tokens[1]} reads blob(s) {missing[:3]} that no earlier layer produces")
        produced.update(tops)
        if len(produced) > blob_count:
            raise bad(line_no, f"more blobs than the {blob_count} declared")
        params: Dict[int, Value] = {}
        for item in tokens[4 + n_in + n_out:]:
            key, sep, value = item.partition("=")
            try:
                k = int(key)
                if not sep:
                    raise ValueError
                if k <= -23300:
                    parts = value.split(",")
                    count = int(parts[0])
                    if not 0 <= count <= MAX_ARRAY or len(parts) != count + 1:
                        raise ValueError
                    params[-23300 - k] = [_number(p) for p in parts[1:]]
                elif 0 <= k < 32 and len(value) >= 2 and value[0] == value[-1] == '"':
                    if len(value) > 1026 or '"' in value[1:-1]:
                        raise ValueError
                    params[k] = value[1:-1]  # string parameter (shape expressions in newer pnnx output)
                elif 0 <= k < 32:
                    params[k] = _number(value)
                else:
                    raise ValueError
            except (ValueError, OverflowError):
                raise bad(line_no, f"bad parameter {item!r:.40}") from None
        layer = Layer(tokens[0], tokens[1], bottoms, tops, params, line_no)
        _check_ranges(layer, bad)
        layers.append(layer)
    return layers


def _in(value: Value, low: float, high: float) -> bool:
    return isinstance(value, (int, float)) and low <= value <= high


def _check_ranges(layer: Layer, bad) -> None:
    """Parameters ncnn would turn into huge loops, allocations or out-of-bounds accesses."""
    p, k = layer.params, layer.kind
    checks: List[Tuple[int, float, float, str]] = []
    if k in ("Convolution", "ConvolutionDepthWise", "Deconvolution", "DeconvolutionDepthWise", "Convolution1D",
             "Convolution3D", "Deconvolution1D", "Deconvolution3D", "DeformableConv2D"):
        checks = [(0, 1, MAX_CHANNELS, "num_output"), (1, 1, MAX_KERNEL, "kernel_w"), (11, 1, MAX_KERNEL, "kernel_h"),
                  (21, 1, MAX_KERNEL, "kernel_d"), (2, 1, MAX_DILATION, "dilation_w"),
                  (12, 1, MAX_DILATION, "dilation_h"), (22, 1, MAX_DILATION, "dilation_d"),
                  (3, 1, MAX_STRIDE, "stride_w"), (13, 1, MAX_STRIDE, "stride_h"), (23, 1, MAX_STRIDE, "stride_d"),
                  (4, -234, MAX_PAD, "pad_left"), (14, -234, MAX_PAD, "pad_top"), (15, -234, MAX_PAD, "pad_right"),
                  (16, -234, MAX_PAD, "pad_bottom"), (24, -234, MAX_PAD, "pad_front"),
                  (6, 0, MAX_WEIGHTS, "weight_data_size"),
                  (7, 1, MAX_CHANNELS, "group"), (8, 0, 102, "int8_scale_term")]
        dynamic = layer.int(28 if k.startswith("Deconvolution") else 19) == 1
        if not dynamic and p.get(6, 0) == 0:
            raise bad(layer.line, f"{k} {layer.name}: weight_data_size (6=) is missing or 0")
        kernel = layer.int(1, 0) * layer.int(11, layer.int(1, 0)) * max(1, layer.int(21, 1))
        if not dynamic and kernel > 0 and layer.int(6) % (kernel * max(1, layer.int(0, 1))) != 0 \
                and k in ("Convolution", "Convolution1D", "Convolution3D", "Deconvolution"):
            raise bad(layer.line, f"{k} {layer.name}: weight_data_size {layer.int(6)} is not a multiple of "
                                  f"num_output x kernel ({layer.int(0)} x {kernel})")
    elif k in ("Pooling", "Pooling1D", "Pooling3D"):
        checks = [(1, 1, MAX_SIZE, "kernel_w"), (11, 1, MAX_SIZE, "kernel_h"), (2, 1, MAX_STRIDE, "stride_w"),
                  (12, 1, MAX_STRIDE, "stride_h"), (3, -234, MAX_PAD, "pad_left"), (13, -234, MAX_PAD, "pad_top")]
    elif k == "InnerProduct":
        checks = [(0, 1, MAX_CHANNELS * 16, "num_output"), (2, 1, MAX_WEIGHTS, "weight_data_size")]
    elif k in ("BatchNorm", "PReLU", "Scale", "Bias", "InstanceNorm", "GroupNorm", "LayerNorm", "Normalize"):
        checks = [(0, -233, MAX_WEIGHTS, "size")]
    elif k == "Interp":
        checks = [(3, 0, MAX_SIZE, "output_height"), (4, 0, MAX_SIZE, "output_width")]
        for key, what in ((1, "height_scale"), (2, "width_scale")):
            if key in p and not _in(p[key], 0, 1024):
                raise bad(layer.line, f"Interp {layer.name}: {what} {p[key]} out of range")
    elif k in ("Reshape", "MemoryData", "Tile", "ExpandDims", "Squeeze", "Crop", "Padding", "Slice"):
        for key, value in p.items():
            values = value if isinstance(value, list) else [value]
            if any(not isinstance(v, str) and not _in(v, -MAX_SIZE, MAX_WEIGHTS) for v in values):
                raise bad(layer.line, f"{k} {layer.name}: parameter {key}={value} out of range")
    for key, low, high, what in checks:
        if key in p and not _in(p[key], low, high):
            raise bad(layer.line, f"{k} {layer.name}: {what} ({key}=) is {p[key]}; expected {low}..{high}")


class _Bin:
    """Sequential reader over the .bin that follows ncnn's ModelBin rules, counting bytes."""

    def __init__(self, path: Path) -> None:
        self.f = open(path, "rb")
        self.size = path.stat().st_size
        self.offset = 0
        #: (what, start offset, end offset, tag or None for a raw type-1 blob, element count) per blob read
        self.blobs: List[Tuple[str, int, int, Optional[int], int]] = []

    def close(self) -> None:
        self.f.close()

    def skip(self, n: int, what: str) -> None:
        if n < 0 or self.offset + n > self.size:
            raise EOFError(f"{what} needs {n} bytes at offset {self.offset}; the file has {self.size}")
        self.offset += n
        self.f.seek(self.offset)

    def load(self, count: int, kind: int, what: str) -> None:
        if not 0 <= count <= MAX_WEIGHTS:
            raise EOFError(f"{what}: {count} elements")
        start = self.offset
        if kind == 1:
            self.skip(4 * count, what)
            self.blobs.append((what, start, self.offset, None, count))
            return
        head = self.f.read(4)
        if len(head) < 4:
            raise EOFError(f"{what}: no tag at offset {self.offset}")
        tag = struct.unpack("<I", head)[0]
        self.offset += 4
        self.f.seek(self.offset)
        if tag == _TAG_FP16:
            self.skip((2 * count + 3) // 4 * 4, what)
        elif tag == _TAG_INT8:
            self.skip((count + 3) // 4 * 4, what)
        elif tag == _TAG_SCALED:
            self.skip(4 * count, what)
        elif sum(head) != 0:  # a 256-entry quantisation table and one byte per element
            self.skip(256 * 4 + (count + 3) // 4 * 4, what)
        elif head[0] == 0:
            self.skip(4 * count, what)
        else:
            raise EOFError(f"{what}: unknown tag {tag:#x} at offset {self.offset - 4}")
        self.blobs.append((what, start, self.offset, tag, count))


def _walk(layer: Layer, mb: _Bin) -> bool:
    """Advance over one layer's weights; False when the layer type is unknown."""
    k, name = layer.kind, f"{layer.kind} {layer.name}"
    if k in WEIGHTLESS:
        return True
    if k == "Padding":
        n = layer.int(6)
        if n > 0:
            mb.load(n, 1, name)
        return True
    if k in ("Convolution", "Convolution1D", "Convolution3D", "ConvolutionDepthWise", "Deconvolution",
             "DeconvolutionDepthWise", "Deconvolution1D", "Deconvolution3D"):
        if layer.int(28 if k.startswith("Deconvolution") else 19) == 1:  # weights come from an input blob
            return True
        out = layer.int(0)
        mb.load(layer.int(6), 0, name + " weights")
        if layer.int(5):
            mb.load(out, 1, name + " bias")
        scale_term = layer.int(8)
        if scale_term and k in ("Convolution", "ConvolutionDepthWise"):
            depthwise = k == "ConvolutionDepthWise"
            per_channel = layer.int(7, 1) if depthwise and scale_term in (1, 101) else (1 if depthwise else out)
            mb.load(per_channel, 1, name + " weight scales")
            mb.load(1, 1, name + " input scale")
            if scale_term > 100:
                mb.load(1, 1, name + " output scale")
        return True
    if k == "InnerProduct":
        mb.load(layer.int(2), 0, name + " weights")
        if layer.int(1):
            mb.load(layer.int(0), 1, name + " bias")
        if layer.int(8):
            mb.load(layer.int(0), 1, name + " weight scales")
            mb.load(1, 1, name + " input scale")
        return True
    if k == "BatchNorm":
        for part in ("slope", "mean", "var", "bias"):
            mb.load(layer.int(0), 1, f"{name} {part}")
        return True
    if k == "PReLU":
        mb.load(layer.int(0), 1, name)
        return True
    if k == "Scale":
        if layer.int(0) != -233:
            mb.load(layer.int(0), 1, name)
            if layer.int(1):
                mb.load(layer.int(0), 1, name + " bias")
        return True
    if k == "Bias":
        mb.load(layer.int(0), 1, name)
        return True
    if k == "MemoryData":
        dims = [layer.int(i) for i in (0, 1, 11, 2)]
        mb.load(math.prod(d for d in dims if d) if any(dims) else 0, 1, name)
        return True
    if k in ("InstanceNorm", "GroupNorm"):
        channels = layer.int(1 if k == "GroupNorm" else 0)
        if layer.int(3 if k == "GroupNorm" else 2, 1):
            mb.load(channels, 1, name + " gamma")
            mb.load(channels, 1, name + " beta")
        return True
    if k == "LayerNorm":
        if layer.int(2, 1):
            mb.load(layer.int(0), 1, name + " gamma")
            mb.load(layer.int(0), 1, name + " beta")
        return True
    return False


@dataclass(frozen=True)
class WeightBlob:
    """One blob of a layer's weights in the .bin: ``[start, end)`` bytes (tag included), the tag (None for raw
    fp32 type-1 blobs, 0 for tagged fp32) and the element count."""

    what: str
    start: int
    end: int
    tag: Optional[int]
    count: int


def weight_blobs(param: Path, weights: Path) -> List[Tuple[Layer, List[WeightBlob]]]:
    """Every layer of a checked .param/.bin pair with the weight blobs it reads, in file order (ModelLoadError
    when the .bin does not match, or when a layer's weight layout is unknown)."""
    check_ncnn_files(param, weights)
    layers = parse_param(param.read_text(), str(param))
    mb = _Bin(weights)
    out = []
    try:
        for layer in layers:
            first = len(mb.blobs)
            if not _walk(layer, mb):
                raise ModelLoadError(f"{param.name}: the weights of layer type {layer.kind} are not known to edgecv")
            out.append((layer, [WeightBlob(*b) for b in mb.blobs[first:]]))
    except EOFError as exc:
        raise ModelLoadError(f"{weights} does not match {param.name}: {exc}") from None
    finally:
        mb.close()
    return out


def check_ncnn_files(param: Path, weights: Path) -> Optional[str]:
    """Check a .param/.bin pair; ModelLoadError on any problem. Returns None when the .bin was walked to its
    exact end, else the name of the layer type whose weights are unknown (the size was not verified)."""
    size = param.stat().st_size
    if size > MAX_PARAM_BYTES:
        raise ModelLoadError(f"{param}: {size} bytes is too large for an ncnn .param file")
    try:
        text = param.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        raise ModelLoadError(f"{param}: not an ncnn .param file (not text)") from None
    layers = parse_param(text, str(param))
    mb = _Bin(weights)
    try:
        for layer in layers:
            if not _walk(layer, mb):
                log.info("%s: layer type %s is not known to the .bin check; its size is left unverified",
                         param.name, layer.kind)
                return layer.kind
    except EOFError as exc:
        raise ModelLoadError(f"{weights} does not match {param.name} (a .bin of another model, or truncated): "
                             f"{exc}") from None
    finally:
        mb.close()
    if mb.offset != mb.size:
        raise ModelLoadError(f"{weights} has {mb.size - mb.offset} bytes more than {param.name} reads "
                             f"({mb.offset} of {mb.size}): a .bin of another model?")
    return None

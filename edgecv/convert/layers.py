"""A network as the quantisers see it, whatever the file format (ONNX nodes, ncnn layers, MNN ops): layers with
the tensors they read and write, and which of them carry weights that INT8 quantisation applies to.

Two choices live here, once for every engine: which layers start in fp32 (the first weighted layers, which see
raw pixels, and the heads, whose outputs are the task's raw results), and which layers add the most
quantisation noise (``rank_by_noise``: the drop in signal-to-quantisation-noise ratio across each layer,
measured on calibration inputs by comparing the fp32 and the quantised network tensor by tensor).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Mapping, Sequence, Set, Tuple

import numpy as np

#: SQNR (dB) of a tensor that quantisation does not change at all (the network input, say).
EXACT_DB = 120.0


@dataclass(frozen=True)
class Layer:
    """``name``: what the engine's quantiser calls the layer; ``inputs``/``outputs``: tensor names."""

    name: str
    kind: str
    inputs: Tuple[str, ...]
    outputs: Tuple[str, ...]
    weighted: bool = False


@dataclass
class Network:
    """Layers in execution order, with the network's input and output tensors."""

    layers: List[Layer]
    inputs: List[str]
    outputs: List[str]
    _producer: Dict[str, Layer] = field(default_factory=dict, repr=False)
    _consumers: Dict[str, List[Layer]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for layer in self.layers:
            for t in layer.outputs:
                self._producer[t] = layer
            for t in layer.inputs:
                self._consumers.setdefault(t, []).append(layer)

    @property
    def weighted(self) -> List[Layer]:
        return [la for la in self.layers if la.weighted]

    def first_layers(self) -> List[str]:
        """Weighted layers reached from the inputs through weightless layers only."""
        return self._nearest(self.inputs, lambda t: self._consumers.get(t, []), lambda la: la.outputs)

    def head_layers(self) -> List[str]:
        """Weighted layers the outputs are reached from through weightless layers only."""
        return self._nearest(self.outputs, lambda t: [self._producer[t]] if t in self._producer else [],
                             lambda la: la.inputs)

    def _nearest(self, start: Iterable[str], step: Callable[[str], List[Layer]],
                 onward: Callable[[Layer], Tuple[str, ...]]) -> List[str]:
        found: List[str] = []
        seen: Set[str] = set()
        queue = deque(start)
        while queue:
            for layer in step(queue.popleft()):
                if layer.name in seen:
                    continue
                seen.add(layer.name)
                if layer.weighted:
                    found.append(layer.name)
                else:
                    queue.extend(onward(layer))
        order = {la.name: i for i, la in enumerate(self.layers)}
        return sorted(found, key=order.__getitem__)

    def structural(self) -> List[str]:
        """Layers kept in fp32 from the start: the first weighted layers and the heads."""
        return list(dict.fromkeys(self.first_layers() + self.head_layers()))

    def probes(self, names: Sequence[str]) -> Dict[str, Tuple[str, str]]:
        """layer name -> (its data input tensor, its output tensor), for the weighted layers named."""
        by_name = {la.name: la for la in self.layers}
        return {n: (by_name[n].inputs[0], by_name[n].outputs[0]) for n in names
                if n in by_name and by_name[n].inputs and by_name[n].outputs}


class NoiseMeter:
    """Accumulates, per tensor, the energy of the fp32 values and of the difference to the quantised ones,
    over any number of inputs (memory: one input's tensors at a time)."""

    def __init__(self) -> None:
        self.signal: Dict[str, float] = {}
        self.noise: Dict[str, float] = {}

    def add(self, reference: Mapping[str, np.ndarray], quantised: Mapping[str, np.ndarray]) -> None:
        for name, ref in reference.items():
            other = quantised.get(name)
            if other is None or other.size != ref.size:
                continue
            r = ref.astype(np.float64).reshape(-1)
            d = r - other.astype(np.float64).reshape(-1)
            self.signal[name] = self.signal.get(name, 0.0) + float(r @ r)
            self.noise[name] = self.noise.get(name, 0.0) + (float(d @ d) if np.isfinite(d).all() else math.inf)

    def sqnr_db(self, name: str) -> float:
        """Signal-to-quantisation-noise ratio of tensor ``name`` in dB (EXACT_DB when unchanged or unknown)."""
        signal, noise = self.signal.get(name), self.noise.get(name)
        if signal is None or noise is None:
            return EXACT_DB
        if math.isinf(noise):
            return -EXACT_DB
        if noise <= signal * 10 ** (-EXACT_DB / 10):
            return EXACT_DB
        return 10 * math.log10(max(signal, 1e-30) / noise)


def rank_by_noise(probes: Mapping[str, Tuple[str, str]], meter: NoiseMeter) -> List[Tuple[str, float]]:
    """Layers by the noise they add (SQNR of their input minus SQNR of their output, dB), largest first."""
    scored = [(name, meter.sqnr_db(src) - meter.sqnr_db(dst)) for name, (src, dst) in probes.items()]
    return sorted(scored, key=lambda item: -item[1])

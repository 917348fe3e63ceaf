"""Hostile inputs for edgecv, generated from the shared models: corrupt bytes at many offsets of every engine
file, edited ncnn .param files and mismatched .bin files, hostile .edgecv.json sidecars and API arguments.

    python tests/hostile.py [--per-group N] [--isolated] [--groups mnn,onnx,...]

prints one JSON line per case: {"group", "case", "outcome", ...} with outcome one of
  typed      an EdgecvError subclass (the promise)
  same       the same answer as the clean input
  changed    another answer: weights changed in a file nothing vouches for (no checksum can tell)
  raw        a non-edgecv exception (a bug)
  crash      the process died (signal / abort): only visible with --isolated, else the run dies
  hang       no answer within the time limit (--isolated)
Without --isolated every case runs in this one process: edgecv's child-process check of unknown model
files is what keeps it alive. tests/test_hostile.py runs a sample in CI; run it with --per-group 0 (all)
for the full numbers. Set PYTHONPATH to another edgecv install to measure that one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

SHARED = Path(os.environ.get("EDGECV_SHARED", Path(__file__).resolve().parents[2] / "shared")).resolve()
SCRFD_DIR = SHARED / "models" / "scrfd_2.5g_bnkps_640"
STEM = "scrfd_2.5g_bnkps_shape640x640"
FILES = {"onnx": [f"{STEM}.onnx"], "ncnn": [f"{STEM}.opt.param", f"{STEM}.opt.bin"], "mnn": [f"{STEM}.mnn"]}
PHOTO = SHARED / "images" / "group_t1.jpg"
POSE_ONNX = SHARED / "models" / "lightweight_openpose_hpe0001" / "lightweight_openpose_hpe0001.onnx"

# Offsets the review found (4 bytes written little-endian): SIGFPE, SIGFPE, SIGSEGV in MNN.
KNOWN_MNN = [(63896, 0), (110372, 0x7FFFFFFF), (2764144, 0x00010000)]
VALUES = (0, 0xFFFFFFFF, 0x7FFFFFFF, 0x00010000, 0x80000000)


@dataclass
class Case:
    group: str
    name: str
    #: writes the case's files into a folder; returns (model path, load kwargs, detect kwargs)
    build: Callable[[Path], Tuple[Path, Dict[str, Any], Dict[str, Any]]]
    #: the files carry sha256 in a sidecar: any corruption must be a typed error
    checksummed: bool = False


def _copy(kind: str, folder: Path) -> List[Path]:
    out = []
    for name in FILES[kind]:
        shutil.copyfile(SCRFD_DIR / name, folder / name)
        out.append(folder / name)
    return out


def _poke(path: Path, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    offset = min(offset, len(data) - 4)
    data[offset:offset + 4] = struct.pack("<I", value & 0xFFFFFFFF)
    path.write_bytes(bytes(data))


def byte_cases(kind: str, per_file: int, rng: random.Random) -> List[Case]:
    """Four bytes changed at offsets spread over each file of an engine (the review's MNN offsets first)."""
    cases = []
    for index, name in enumerate(FILES[kind]):
        size = (SCRFD_DIR / name).stat().st_size
        spots = [(o, v) for o, v in KNOWN_MNN] if kind == "mnn" else []
        head = [(o, rng.choice(VALUES)) for o in (8, 16, 24, 40, 64, 100)]
        spread = [(rng.randrange(0, size - 4), rng.choice(VALUES)) for _ in range(max(per_file, 1) * 4)]
        picks = spots + (head + spread)[:per_file] if per_file else spots + head + spread
        for offset, value in picks:
            def build(folder, offset=offset, value=value, index=index):
                paths = _copy(kind, folder)
                _poke(paths[index], offset, value)
                return paths[0], {}, {}
            cases.append(Case(f"{kind}-bytes", f"{name}@{offset}={value:#x}", build))
    return cases


def truncation_cases(kind: str) -> List[Case]:
    cases = []
    for index, name in enumerate(FILES[kind]):
        for share in (0.0, 0.01, 0.5, 0.999):
            def build(folder, share=share, index=index):
                paths = _copy(kind, folder)
                data = paths[index].read_bytes()
                paths[index].write_bytes(data[: int(len(data) * share)])
                return paths[0], {}, {}
            cases.append(Case(f"{kind}-truncated", f"{name}[:{share:.1%}]", build))
    return cases


PARAM_EDITS = {
    "stride 2147483647": (r"(Conv_2\s+1 1 \S+ \S+ 0=12 1=3)", r"\1 13=2147483647"),
    "stride and pad": (r"(Conv_2\s+1 1 \S+ \S+ 0=12 1=3)", r"\1 13=2147483647 14=-99999"),
    "stride 0": (r"(Conv_0\s+1 1 \S+ \S+ 0=12 1=3) 3=2", r"\1 3=0"),
    "kernel -5": (r"(Conv_0\s+1 1 \S+ \S+ 0=12) 1=3", r"\1 1=-5"),
    "num_output huge": (r"(Conv_0\s+1 1 \S+ \S+) 0=12", r"\1 0=99999999"),
    "weight size wrong": (r"6=324 ", r"6=325 "),
    "bias term off": (r"(Conv_0\s+1 1 \S+ \S+ 0=12 1=3 3=2 4=1) 5=1", r"\1 5=0"),
    "layer count": (r"^7767517\n(\d+) ", r"7767517\n9999 "),
    "blob count": (r"^7767517\n(\d+) (\d+)", r"7767517\n\1 3"),
    "unknown bottom": (r"(Conv_2\s+1 1) \S+", r"\1 no_such_blob"),
    "blob counts": (r"(Conv_2\s+)1 1", r"\g<1>200 1"),
    "bad value": (r"0=12 1=3 3=2", r"0=twelve 1=3 3=2"),
    "array huge": (r"(Conv_0\s+1 1 \S+ \S+ 0=12)", r"\1 -23309=99999,1,2"),
    "interp size": (r"^(Interp\s.*)$", r"\1 3=99999999 4=99999999"),
    "reshape huge": (r"^(Reshape\s.*)$", r"\1 0=2147483647 1=2147483647"),
    "not text": (None, None),
    "no magic": (r"^7767517", r"1234567"),
}


def param_cases() -> List[Case]:
    cases = []
    for label, (pattern, repl) in PARAM_EDITS.items():
        def build(folder, pattern=pattern, repl=repl):
            param, weights = _copy("ncnn", folder)
            if pattern is None:
                param.write_bytes(b"\xff\xfe\x00binary" * 40)
            else:
                text, n = re.subn(pattern, repl, param.read_text(), count=1, flags=re.M)
                assert n == 1, pattern
                param.write_text(text)
            return param, {}, {}
        cases.append(Case("ncnn-param", label, build))
    return cases


def bin_cases() -> List[Case]:
    """A .bin of another model, longer or shorter .bin files."""
    def other(folder):
        param, weights = _copy("ncnn", folder)
        pose = next(iter(sorted(Path(tempfile.gettempdir()).glob("edgecv-hostile-pose/*.bin"))), None)
        weights.write_bytes(pose.read_bytes() if pose else os.urandom(weights.stat().st_size))
        return param, {}, {}

    def longer(folder):
        param, weights = _copy("ncnn", folder)
        weights.write_bytes(weights.read_bytes() + b"\x00" * 4096)
        return param, {}, {}

    def swapped(folder):
        param, weights = _copy("ncnn", folder)
        data = weights.read_bytes()
        weights.write_bytes(data[len(data) // 2:] + data[: len(data) // 2])
        return param, {}, {}
    return [Case("ncnn-bin", "another model's .bin", other), Case("ncnn-bin", ".bin with 4 kB more", longer),
            Case("ncnn-bin", ".bin halves swapped", swapped)]


def _sidecar_doc() -> Dict[str, Any]:
    from hashlib import sha256

    return {"name": STEM, "task": "scrfd",
            "input": {"name": "input.1", "layout": "NCHW", "color": "RGB", "mean": [127.5] * 3, "std": [128.0] * 3,
                      "size": [640, 640], "dynamic": False},
            "inputs": {"input.1": [1, 3, 640, 640]},
            "outputs": {"strides": [8, 16, 32], "num_anchors": 2, "landmarks": True,
                        "names": [f"{k}_{s}" for s in (8, 16, 32) for k in ("score", "bbox", "kps")]},
            "fp16": False, "precision": "fp32",
            "files": {"onnxruntime": [{"name": f"{STEM}.onnx",
                                       "sha256": sha256((SCRFD_DIR / f"{STEM}.onnx").read_bytes()).hexdigest()}]}}


HOSTILE_VALUES: List[Any] = [None, "x", -1, 0, 1e30, [], {}, True, [100000, 100000], [0, 0], float("nan"),
                             [1, 2, 3, 4, 5], "../../etc/passwd", {"a": [1] * 3}, 2 ** 63]


def _paths(doc: Any, prefix: Tuple = ()) -> List[Tuple]:
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += _paths(v, prefix + (k,))
    elif isinstance(doc, list) and doc and len(doc) <= 3:
        out += _paths(doc[0], prefix + (0,))
    return out


def sidecar_cases(rng: random.Random, limit: int) -> List[Case]:
    doc = _sidecar_doc()
    combos = [(path, value) for path in _paths(doc) for value in HOSTILE_VALUES]
    combos += [(("task",), t) for t in ("openpose", "mvs", "yolo", "")]
    combos += [((), "not an object"), (("input", "std"), [0, 0, 0]), (("outputs", "strides"), [7])]
    rng.shuffle(combos)
    if limit:
        combos = combos[:limit]
    cases = []
    for path, value in combos:
        def build(folder, path=path, value=value):
            (model,) = _copy("onnx", folder)
            d = json.loads(json.dumps(doc))
            if not path:
                d = value
            else:
                target = d
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
            (folder / f"{STEM}.edgecv.json").write_text(json.dumps(d, allow_nan=True))
            return model, {}, {}
        cases.append(Case("sidecar", f"{'.'.join(map(str, path)) or '(doc)'}={json.dumps(value, allow_nan=True)[:30]}",
                          build, checksummed=True))
    # Bytes changed in a file whose sidecar lists its sha256: always an error.
    for offset in (1000, 50_000, 1_000_000):
        def build(folder, offset=offset):
            (model,) = _copy("onnx", folder)
            (folder / f"{STEM}.edgecv.json").write_text(json.dumps(doc))
            _poke(model, offset, 0x7FFFFFFF)
            return model, {}, {}
        cases.append(Case("sidecar", f"checksummed file changed @{offset}", build, checksummed=True))
    return cases


API_CASES: Dict[str, Tuple[Dict[str, Any], Dict[str, Any]]] = {
    "threads='abc'": ({"threads": "abc"}, {}), "threads=100000": ({"threads": 100000}, {}),
    "threads=0": ({"threads": 0}, {}), "threads=1.5": ({"threads": 1.5}, {}),
    "score_threshold='0.5'": ({}, {"score_threshold": "0.5"}),
    "score_threshold=nan": ({}, {"score_threshold": float("nan")}),
    "max_faces=10**20": ({}, {"max_faces": 10 ** 20}), "max_faces=-1": ({}, {"max_faces": -1}),
    "iou_threshold=[1]": ({}, {"iou_threshold": [1]}), "camera='x'": ({}, {"head_pose": True, "camera": "x"}),
    "input_size=(100000, 100000)": ({"input_size": (100000, 100000)}, {}), "input_size=33": ({"input_size": 33}, {}),
    "engine=7": ({"engine": 7}, {}), "task='yolo'": ({"task": "yolo"}, {}), "fp16='yes'": ({"fp16": "yes"}, {}),
    "unknown option": ({"upsample": 2}, {}), "per-call load option": ({}, {"input_size": 320}),
}


def api_cases() -> List[Case]:
    cases = []
    for label, (load_kw, detect_kw) in API_CASES.items():
        def build(folder, load_kw=load_kw, detect_kw=detect_kw):
            (model,) = _copy("onnx", folder)
            return model, dict(load_kw), dict(detect_kw)
        cases.append(Case("api", label, build))
    return cases


def all_cases(per_group: int, seed: int = 7) -> List[Case]:
    rng = random.Random(seed)
    cases = []
    for kind in ("mnn", "onnx", "ncnn"):
        cases += byte_cases(kind, per_group, rng) + truncation_cases(kind)
    cases += param_cases() + bin_cases() + sidecar_cases(rng, per_group * 4) + api_cases()
    return cases


def _same(a, b) -> bool:
    import numpy as np

    return a.boxes.shape == b.boxes.shape and np.allclose(a.boxes, b.boxes, atol=1e-2)


def run_case(case: Case, clean, threads: int = 1) -> Dict[str, Any]:
    import edgecv

    start = time.perf_counter()
    row: Dict[str, Any] = {"group": case.group, "case": case.name}
    with tempfile.TemporaryDirectory(prefix="edgecv-hostile-") as tmp:
        model_path, load_kw, detect_kw = case.build(Path(tmp))
        try:
            load_kw.setdefault("threads", threads)
            model = edgecv.load(model_path, **load_kw)
            result = model.detect(str(PHOTO), **detect_kw)
            row["outcome"] = "same" if _same(result, clean) else "changed"
            if case.checksummed and row["outcome"] != "same":
                row["outcome"] = "changed-checksummed"
        except edgecv.EdgecvError as exc:
            row.update(outcome="typed", error=type(exc).__name__, message=str(exc)[:300], message_len=len(str(exc)))
        except Exception as exc:
            row.update(outcome="raw", error=type(exc).__name__, message=str(exc)[:300])
    row["seconds"] = round(time.perf_counter() - start, 2)
    return row


def _prepare_pose_bin() -> None:
    """An ncnn .bin of another model, for the 'another model's .bin' case (converted once per machine)."""
    folder = Path(tempfile.gettempdir()) / "edgecv-hostile-pose"
    if any(folder.glob("*.bin")):
        return
    from edgecv.convert import convert

    convert(POSE_ONNX, "openpose", out_dir=folder, to=["ncnn"], trust=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-group", type=int, default=6, help="cases per file and group (0 = all)")
    ap.add_argument("--isolated", action="store_true", help="each case in its own process (old code crashes)")
    ap.add_argument("--groups", help="comma-separated groups to run (default: all)")
    ap.add_argument("--case-timeout", type=float, default=120)
    ap.add_argument("--case", help="run one case by group/name (used by --isolated)")
    args = ap.parse_args()
    import edgecv

    cases = all_cases(args.per_group)
    if args.groups:
        wanted = set(args.groups.split(","))
        cases = [c for c in cases if c.group in wanted or c.group.split("-")[0] in wanted]
    if args.case:
        cases = [c for c in cases if f"{c.group}/{c.name}" == args.case]
    if any(c.group == "ncnn-bin" for c in cases):
        try:
            _prepare_pose_bin()
        except Exception:
            pass
    clean = edgecv.load(SCRFD_DIR / FILES["onnx"][0], threads=1, **({"trust": True} if "trust" in
                        edgecv.load.__code__.co_varnames else {})).detect(str(PHOTO))
    for case in cases:
        if args.isolated and not args.case:
            cmd = [sys.executable, __file__, "--per-group", str(args.per_group), "--case", f"{case.group}/{case.name}"]
            start = time.perf_counter()
            try:
                out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.case_timeout)
                lines = [ln for ln in out.stdout.splitlines() if ln.startswith("{")]
                row = json.loads(lines[-1]) if lines and out.returncode == 0 else {
                    "group": case.group, "case": case.name, "outcome": "crash" if out.returncode < 0 else "raw",
                    "error": f"exit {out.returncode}", "message": out.stderr.strip().splitlines()[-1:] and
                    out.stderr.strip().splitlines()[-1][:200]}
            except subprocess.TimeoutExpired:
                row = {"group": case.group, "case": case.name, "outcome": "hang"}
            row["seconds"] = round(time.perf_counter() - start, 2)
        else:
            row = run_case(case, clean)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The end-to-end smoke subset: real models on real photos through an installed edgecv (a binary wheel under qemu,
or the pure wheel on its Python core), compared with a reference run of the native build on x86.

    python tools/smoke.py record REF.json [--engines ncnn,mnn,onnxruntime]
    python tools/smoke.py check REF.json [--engines ...] [--expect-machine aarch64] [--expect-core python] [--strict]

Checks: SCRFD and YuNet find the same faces (boxes and landmarks within 2 px, scores within 0.02), head pose gives
the same angles (within 1 degree), OpenPose on ncnn finds the same people (keypoints within 3 px), the CLI prints
the same JSON counts and exits 2 with one line on bad input, and bad inputs raise the same typed errors.
``--strict`` (the same machine and engines, another core): boxes within 0.5 px, keypoints within 1 px, angles within
0.5 degrees, the same counts. tools/arm_e2e.sh and tools/pure_wheel.sh run it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SHARED = Path(os.environ.get("EDGECV_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PHOTOS = ["group_t1.jpg", "street_4.jpg"]
FACES = "scrfd_2.5g_bnkps_640"
POSE = "lightweight_openpose_hpe0001"
YUNET = "yunet_n_640"
TOLERANCE = {"box_px": 2.0, "score": 0.02, "landmark_px": 2.0, "angle_deg": 1.0, "keypoint_px": 3.0}
STRICT = {"box_px": 0.5, "score": 0.002, "landmark_px": 0.5, "angle_deg": 0.5, "keypoint_px": 1.0}


def faces_of(result) -> list:
    return [{"box": [float(v) for v in result.boxes[i]], "score": float(result.scores[i]),
             "landmarks": np.asarray(result.landmarks[i], float).round(3).tolist()} for i in range(len(result))]


def run(engines: list) -> dict:
    import edgecv
    from edgecv import errors
    from edgecv.native import KIND

    out = {"machine": platform.machine(), "core": KIND, "faces": {}, "head_pose": {}, "people": {}, "errors": {},
           "seconds": {}}
    images = {p: edgecv.read_image(SHARED / "images" / p) for p in PHOTOS}
    runs = [(FACES, e, PHOTOS if e != "onnxruntime" else PHOTOS[:1]) for e in engines] + [(YUNET, "ncnn", PHOTOS)]
    for name, engine, photos in runs:
        start = time.perf_counter()
        model = edgecv.load(name, engine=engine, threads=2, head_pose=engine == "ncnn" and name == FACES)
        key = engine if name == FACES else f"{name} {engine}"
        out["faces"][key] = {}
        for p in photos:
            result = model.detect(images[p])
            out["faces"][key][p] = faces_of(result)
            if engine == "ncnn" and name == FACES:
                hp = result.head_pose
                out["head_pose"][p] = np.stack([hp.yaw, hp.pitch, hp.roll], 1).astype(float).round(3).tolist()
        out["seconds"][f"{name} {engine}"] = round(time.perf_counter() - start, 1)
    start = time.perf_counter()
    pose = edgecv.load(POSE, engine="ncnn", threads=2, input_height=256)  # fixed: qemu time; auto is tested natively
    result = pose.detect(images["street_4.jpg"])
    out["people"]["street_4.jpg"] = np.asarray(result.keypoints, float).round(2).tolist()
    out["seconds"]["openpose ncnn"] = round(time.perf_counter() - start, 1)
    # the command line, in this process (an emulated interpreter cannot start another emulated one)
    from edgecv.cli import main

    buffer, errbuf = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(buffer):
        code = main(["detect", str(SHARED / "images" / "group_t1.jpg"), "--engine", "ncnn", "--json"])
    out["cli"] = {"exit": code, "count": json.loads(buffer.getvalue())["results"][0]["count"]}
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errbuf):
        code = main(["detect", "/nonexistent/photo.jpg", "--engine", "ncnn"])
    out["cli"]["bad_exit"] = code
    out["cli"]["bad_lines"] = errbuf.getvalue().count("\n")
    # bad input: the same typed errors
    model = edgecv.load(FACES, engine="ncnn", threads=1)
    cases = {
        "missing file": lambda: edgecv.load("/nonexistent/model.onnx"),
        "empty image": lambda: model.detect(np.zeros((0, 0, 3), np.uint8)),
        "gray image": lambda: model.detect(np.zeros((32, 32), np.uint8)),
        "float image": lambda: model.detect(np.zeros((32, 32, 3), np.float32)),
        "threads 0": lambda: edgecv.load(FACES, engine="ncnn", threads=0),
        "unknown engine": lambda: edgecv.load(FACES, engine="tflite"),
        "bad option": lambda: model.detect(images["group_t1.jpg"], score_threshold=2.0),
        "corrupt param": lambda: _corrupt_param(edgecv),
        "core: bad boxes": lambda: edgecv.native.core.nms(np.zeros((3, 5), np.float32), np.zeros(3, np.float32), 0.5),
    }
    for name, call in cases.items():
        try:
            call()
            out["errors"][name] = None
        except errors.EdgecvError as exc:
            out["errors"][name] = type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - recorded: the check fails on anything that is not an EdgecvError
            out["errors"][name] = f"untyped {type(exc).__name__}"
    return out


def _corrupt_param(edgecv) -> None:
    files = edgecv.loading.model_files(edgecv.store.get_manifest(FACES), "ncnn")
    with tempfile.TemporaryDirectory() as tmp:
        param = Path(tmp) / "m.param"
        text = files[0].read_text().replace(" 3=2 ", " 3=2147483647 ", 1)
        param.write_text(text)
        shutil.copyfile(files[1], param.with_suffix(".bin"))
        edgecv.load(param, trust=True)


def compare(ref: dict, got: dict, tolerance: dict = TOLERANCE) -> list:
    TOLERANCE = tolerance
    problems = []
    for engine, per_image in ref["faces"].items():
        for image, faces in per_image.items():
            other = got["faces"].get(engine, {}).get(image)
            if other is None or len(other) != len(faces):
                found = None if other is None else len(other)
                problems.append(f"{engine} {image}: {len(faces)} faces in the reference, {found}")
                continue
            for a, b in zip(faces, other):
                box = float(np.abs(np.subtract(a["box"], b["box"])).max())
                lm = float(np.abs(np.subtract(a["landmarks"], b["landmarks"])).max())
                if box > TOLERANCE["box_px"] or lm > TOLERANCE["landmark_px"] or \
                        abs(a["score"] - b["score"]) > TOLERANCE["score"]:
                    problems.append(f"{engine} {image}: box {box:.2f} px, landmarks {lm:.2f} px, score "
                                    f"{abs(a['score'] - b['score']):.3f} apart")
    for image, angles in ref["head_pose"].items():
        diff = float(np.abs(np.subtract(angles, got["head_pose"].get(image, angles))).max()) if angles else 0.0
        if len(angles) != len(got["head_pose"].get(image, [])) or diff > TOLERANCE["angle_deg"]:
            problems.append(f"head pose {image}: angles {diff:.2f} degrees apart")
    for image, people in ref["people"].items():
        other = got["people"].get(image, [])
        if len(other) != len(people):
            problems.append(f"openpose {image}: {len(people)} people in the reference, {len(other)}")
            continue
        a, b = np.asarray(people), np.asarray(other)
        both = (a[..., 2] > 0) & (b[..., 2] > 0)
        parts_a, parts_b = int((a[..., 2] > 0).sum()), int((b[..., 2] > 0).sum())
        apart = float(np.abs(a[..., :2][both] - b[..., :2][both]).max()) if both.any() else 0.0
        if parts_a != parts_b:
            problems.append(f"openpose {image}: {parts_a} parts in the reference, {parts_b}")
        elif apart > TOLERANCE["keypoint_px"]:
            problems.append(f"openpose {image}: keypoints {apart:.2f} px apart")
    if got["cli"] != ref["cli"]:
        problems.append(f"cli: {got['cli']} here, {ref['cli']} in the reference")
    for name, kind in ref["errors"].items():
        if got["errors"].get(name) != kind or kind is None or kind.startswith("untyped"):
            problems.append(f"bad input '{name}': {got['errors'].get(name)} here, {kind} in the reference")
    return problems


def main(argv) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("mode", choices=["record", "check"])
    ap.add_argument("reference", type=Path)
    ap.add_argument("--engines", default="ncnn,mnn,onnxruntime", help="SCRFD engines to run")
    ap.add_argument("--expect-machine", help="fail unless running on this machine (e.g. aarch64)")
    ap.add_argument("--expect-core", choices=["native", "python"], help="fail unless edgecv uses this core")
    ap.add_argument("--strict", action="store_true", help="the tolerances of one machine and engine, another core")
    args = ap.parse_args(argv[1:])
    engines = [e for e in args.engines.split(",") if e]
    start = time.perf_counter()
    got = run(engines)
    got["seconds"]["total"] = round(time.perf_counter() - start, 1)
    if args.mode == "record":
        args.reference.write_text(json.dumps(got, indent=1))
        print(f"recorded on {got['machine']} ({got['core']} core) in {got['seconds']['total']} s: {args.reference}")
        return 0
    ref = json.loads(args.reference.read_text())
    ref["faces"] = {k: v for k, v in ref["faces"].items() if k in got["faces"]}
    problems = compare(ref, got, STRICT if args.strict else TOLERANCE)
    faces = {e: sum(len(v) for v in per.values()) for e, per in got["faces"].items()}
    print(f"{got['machine']} ({got['core']} core): faces {faces}, people {len(got['people']['street_4.jpg'])}, "
          f"errors {sum(v is not None for v in got['errors'].values())}/{len(got['errors'])} typed; "
          f"seconds {got['seconds']}")
    if args.expect_machine and got["machine"] != args.expect_machine:
        problems.insert(0, f"ran on {got['machine']}, not {args.expect_machine}")
    if args.expect_core and got["core"] != args.expect_core:
        problems.insert(0, f"ran on the {got['core']} core, not the {args.expect_core} one")
    for p in problems:
        print("FAIL:", p)
    print("PASSED" if not problems else f"FAILED ({len(problems)})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""SCRFD benchmark: per engine, detect() vs the bare engine call (ratio), and C++ decode+NMS vs the
pure-Python core's (ratio), on real photos including a crowd.

    EDGECV_MODELS=../shared/models python benchmarks/bench_scrfd.py [--threads 2] [--repeat 100]

"bare" is the engine's own API called the way its documentation shows, on edgecv's session / net /
compiled model (same options and threads) and the same prepared input: ONNX Runtime ``session.run``,
ncnn extractor input + extract, MNN host tensor + ``copyFrom`` + ``runSession`` + ``copyToHostTensor``,
OpenVINO ``InferRequest.infer``. "raw" is edgecv's ``model.infer(prepared)``. detect(), bare and raw are
timed interleaved; a ratio is the median over rounds of the two calls' ratio in the same round (drift
cancels). The post-processing functions, microsecond-scale, are timed each in their own block of repeated
calls. Targets: detect()/bare <= 1.03 on every engine; C++ post-processing >= 20x the Python core's.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("EDGECV_MODELS", str(REPO.parent / "shared" / "models"))

import edgecv  # noqa: E402
from _timing import interleaved_samples, median_ms, medians_ms, paired_ratios, report  # noqa: E402
from edgecv import _pycore  # noqa: E402

PHOTOS = {"group": "group_t1.jpg", "crowd": "street_6.jpg"}


def _with_core(core, fn):
    """``fn()`` with the SCRFD task calling ``core`` instead of the one it imported."""
    from edgecv.tasks.scrfd import model as scrfd_model

    saved, scrfd_model._core = scrfd_model._core, core
    try:
        return fn()
    finally:
        scrfd_model._core = saved


def bare_call(model, blob):
    """The engine's documented inference call on ``blob`` with edgecv's engine objects: outputs as numpy."""
    engine, name = model.engine, model.input_name
    if engine.name == "onnxruntime":
        session = engine.session
        return lambda: session.run(None, {name: blob})
    if engine.name == "openvino":
        request = engine.compiled.create_infer_request()
        return lambda: request.infer({name: blob})
    if engine.name == "mnn":
        import MNN

        interp, session, outs = engine.interpreter, engine.session, list(engine.output_names)

        def mnn_call():
            host = MNN.Tensor(blob.shape, MNN.Halide_Type_Float, blob, MNN.Tensor_DimensionType_Caffe)
            interp.getSessionInput(session, name).copyFrom(host)
            interp.runSession(session)
            result = []
            for n in outs:
                out = interp.getSessionOutput(session, n)
                copy = MNN.Tensor(out.getShape(), MNN.Halide_Type_Float, MNN.Tensor_DimensionType_Caffe)
                out.copyToHostTensor(copy)
                result.append(copy.getNumpyData())
            return result
        return mnn_call
    if engine.name == "ncnn":
        import ncnn

        from edgecv.engines.ncnn_engine import omp_thread

        net, outs = engine.net, list(engine.output_names)

        def ncnn_call():
            ex = net.create_extractor()
            ex.input(name, ncnn.Mat(blob[0]))  # as ncnn's examples do: the Mat wraps the numpy memory
            return [np.array(ex.extract(n)[1]) for n in outs]
        # edgecv runs every multi-threaded ncnn call on one long-lived thread (one OpenMP team); the bare call
        # goes there too, or the two teams' spinning workers would slow each other
        return (lambda: omp_thread().submit(ncnn_call).result()) if engine.threads > 1 else ncnn_call
    raise SystemExit(f"no bare call for engine {engine.name}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="scrfd_2.5g_bnkps_640")
    ap.add_argument("--engines", default="onnxruntime,ncnn,mnn,openvino")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=100)
    ap.add_argument("--images", default=str(REPO.parent / "shared" / "images"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    images = {k: edgecv.read_image(Path(args.images) / v) for k, v in PHOTOS.items()}
    rows = []
    for engine in args.engines.split(","):
        model = edgecv.load(args.model, engine=engine, threads=args.threads)
        for label, image in images.items():
            prepared = model.prepare(image)
            samples = interleaved_samples({"bare": bare_call(model, prepared.feeds[model.input_name]),
                                           "raw": lambda: model.infer(prepared), "detect": lambda: model.detect(image)},
                                          args.repeat)
            t = medians_ms(samples)
            over_bare, over_raw = paired_ratios(samples, "bare"), paired_ratios(samples, "raw")
            raw = model.infer(prepared)
            # Microsecond-scale: each in its own block (interleaving with numpy's large temporaries
            # would evict the other's working set between calls).
            post = {"cpp": median_ms(lambda: model.postprocess(raw, prepared), 1000),
                    "numpy": median_ms(lambda: _with_core(_pycore, lambda: model.postprocess(raw, prepared)), 300)}
            rows.append({
                "engine": engine, "image": label, "faces": len(model.detect(image)),
                "bare_ms": round(t["bare"], 2), "raw_ms": round(t["raw"], 2), "detect_ms": round(t["detect"], 2),
                "detect_over_bare": round(over_bare["detect"], 3), "detect_over_raw": round(over_raw["detect"], 3),
                "pre_ms": round(median_ms(lambda: model.prepare(image), 20), 3),
                "post_cpp_ms": round(post["cpp"], 4), "post_numpy_ms": round(post["numpy"], 3),
                "numpy_over_cpp": round(post["numpy"] / post["cpp"], 1),
            })
    report(rows, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Command line: ``edgecv detect | convert | quantize | bench | validate | mvs | batch | serve | info | fetch``.

Task options and validation gates become flags from the task registry (``edgecv.tasks``); an option of
another task's model is refused with a one-line error. Every error is one line on stderr and exit
status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .errors import EdgecvError, InvalidInputError, OutputWriteError
from .targets import ENGINE_NAMES


def _emit_json(doc: Any) -> None:
    json.dump(doc, sys.stdout, indent=2, allow_nan=False)
    sys.stdout.write("\n")


def _write_image(path: Path, image) -> Path:
    """Encode by suffix and write atomically; OutputWriteError when either fails."""
    import cv2

    from .fileio import write_bytes

    ok, buf = cv2.imencode(path.suffix or ".jpg", image)
    if not ok:
        raise OutputWriteError(f"cannot encode {path.name}")
    return write_bytes(path, buf.tobytes())


def _progress(total: Optional[int], unit: str, desc: str = ""):
    """A progress bar on stderr (tqdm), refreshed at most every 0.25 s."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=desc, file=sys.stderr, mininterval=0.25, dynamic_ncols=True,
                leave=True, disable=None if total is None else False)


def _out_dir(text: Optional[str]) -> Optional[Path]:
    """An output folder, created now (before any work); OutputWriteError if it cannot be."""
    if not text:
        return None
    out = Path(text)
    if out.exists() and not out.is_dir():
        raise OutputWriteError(f"--out {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".edgecv-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputWriteError(f"cannot write into --out {out}: {exc.strerror or exc}") from exc
    return out


# -- task options as flags -------------------------------------------------------------------------
def _option_flags() -> Dict[str, List[Tuple[str, Any]]]:
    """flag -> [(task, Option)] for every command-line option of the image tasks."""
    from .tasks import IMAGE, TASKS

    flags: Dict[str, List[Tuple[str, Any]]] = {}
    for spec in TASKS.values():
        if spec.inputs == IMAGE:
            for opt in spec.options:
                if opt.cli:
                    flags.setdefault(opt.flag, []).append((spec.name, opt))
    return flags


def _add_option_flags(p: argparse.ArgumentParser) -> None:
    for flag, owners in _option_flags().items():
        tasks = ", ".join(t for t, _ in owners)
        opt = owners[0][1]
        default = "" if opt.default is None else f"; default {opt.default}"
        if opt.kind == "bool":
            p.add_argument(flag, action="store_true", default=None, help=f"{tasks}: {opt.help}")
        else:
            p.add_argument(flag, metavar=opt.kind.upper() if opt.kind != "size" else "N|HxW",
                           help=f"{tasks}: {opt.help}{default}")


def _given_options(args: argparse.Namespace) -> Dict[str, Any]:
    """Option values given on the command line, parsed by their Option."""
    given = {}
    for flag, owners in _option_flags().items():
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            opt = owners[0][1]
            given[opt.name] = value if opt.kind == "bool" else opt.from_text(value)
    return given


def _load_for(args: argparse.Namespace, options: Dict[str, Any]):
    """Load --model for a command, turning an option of another task into a one-line error."""
    from .loading import load
    from .tasks import TASKS

    try:
        return load(args.model, engine=args.engine, threads=args.threads, fp16=getattr(args, "fp16", None) or None,
                    trust=args.trust, **options)
    except InvalidInputError as exc:
        owners = {o.name: [t for t, s in TASKS.items() if any(x.name == o.name for x in s.options)]
                  for _, items in _option_flags().items() for _, o in items}
        for name in options:
            if f"'{name}' is not an option of task" in str(exc):
                flag = "--" + name.replace("_", "-")
                raise InvalidInputError(f"{flag} is an option of {', '.join(owners.get(name, []))} models; "
                                        f"{args.model} is not one of them") from None
        raise


# -- commands --------------------------------------------------------------------------------------
def _cmd_detect(args: argparse.Namespace) -> int:
    from .image import read_image
    from .streams import is_stream_source
    from .tasks import IMAGE, get_task

    streams = [p for p in args.images if is_stream_source(p)]
    if streams:
        if len(args.images) != 1:
            raise InvalidInputError(f"give one stream source (video, camera, URL, folder or glob) or image files; got "
                                    f"{len(args.images)} inputs including {streams[0]}")
        return _detect_stream(args, args.images[0])
    if args.track or args.live or args.reconnect:
        raise InvalidInputError("--track, --live and --reconnect are for streams (video, camera, URL, folder)")
    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        from .errors import ImageReadError

        raise ImageReadError(f"image file not found: {missing[0]}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
    out_dir = _out_dir(args.out)
    model = _load_for(args, _given_options(args))
    spec = get_task(model.task)
    if spec.inputs != IMAGE:
        raise InvalidInputError(f"{args.model} is a {spec.name} model (input: several views); "
                                f"run `edgecv {spec.name} SCENE_DIR --model {args.model}`")
    report = []
    for path in args.images:
        image = read_image(path)
        result = model.detect(image)
        entry = {"image": str(path), "width": image.shape[1], "height": image.shape[0], **result.to_dict()}
        if out_dir:
            target = _write_image(out_dir / (Path(path).stem + ".jpg"), result.draw(image))
            entry["annotated"] = str(target)
        report.append(entry)
        if not args.json:
            noun = spec.nouns[len(result) != 1]
            print(f"{path}: {len(result)} {noun}" + (f" -> {entry['annotated']}" if out_dir else ""), flush=True)
    if args.json:
        _emit_json({"model": str(args.model), "engine": model.engine.name, "results": report})
    return 0


def _stream_target(out: Path, source: str, live: bool) -> Path:
    """Where the annotated video of a stream goes: out/<name><suffix of the input, or .mp4>."""
    from .streams.writer import FOURCC

    path = Path(source)
    if live or "://" in source or not path.suffix:
        stem = "camera" + "".join(c for c in source if c.isdigit()) if not ("://" in source) else "stream"
        return out / f"{stem}.mp4"
    return out / (path.stem + (path.suffix.lower() if path.suffix.lower() in FOURCC else ".mp4"))


def _detect_stream(args: argparse.Namespace, source: str) -> int:
    """`edgecv detect VIDEO|camera:N|URL|FOLDER`: an annotated video (folders: annotated images) in --out, JSON
    Lines with --json, a progress bar with frames per second on stderr for files."""
    import time

    from .streams import ImageSequenceSource, write_json_line
    from .streams.writer import VideoOutput
    from .tasks import IMAGE, get_task

    out_dir = _out_dir(args.out)
    model = _load_for(args, _given_options(args))
    spec = get_task(model.task)
    if spec.inputs != IMAGE:
        raise InvalidInputError(f"{args.model} is a {spec.name} model; streams of frames need an image model")
    options = {k: v for k, v in _given_options(args).items() if any(o.name == k and o.per_call for o in spec.options)}
    stream = model.stream(source, track=args.track, live=True if args.live else None, reconnect=args.reconnect,
                          timeout=args.timeout, **options)
    src = stream.source
    folder = isinstance(src, ImageSequenceSource)
    video = None if (out_dir is None or folder) else VideoOutput(_stream_target(out_dir, source, src.live), src.fps or 10)
    counts, tracks, started = 0, set(), time.monotonic()
    interrupted = False
    bar = _progress(src.count, "frame", Path(source).name) if src.count else None
    try:
        for item in stream:
            counts += len(item.result)
            if item.result.__dict__.get("track_ids") is not None:
                tracks.update(int(i) for i in item.result.track_ids if i >= 0)
            if out_dir is not None:
                drawn = item.result.draw(item.frame)
                if folder:
                    _write_image(out_dir / Path(src.paths[item.index]).name, drawn)
                else:
                    video.write(drawn)
            if args.json:
                write_json_line(sys.stdout, item, src.fps if not src.live else None, started)
            if bar is not None:
                bar.update(1)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        if bar is not None:
            bar.close()
        written = video.close() if video is not None else None
    noun = spec.nouns[1]
    summary = (f"{source}: {stream.frames_done} frames, {stream.fps:.1f} fps, {counts} {noun}"
               + (f", {len(tracks)} tracks" if args.track else "")
               + (f", {stream.frames_dropped} frames dropped (live)" if stream.frames_dropped else "")
               + (f" -> {written}" if written else (f" -> {out_dir}" if folder and out_dir else "")))
    print(summary, file=sys.stderr if args.json else sys.stdout, flush=True)
    if interrupted:
        print("edgecv: interrupted", file=sys.stderr)
        return 130
    return 0


def _parse_refs(text: Optional[str]) -> Optional[List[int]]:
    if not text:
        return None
    try:
        refs = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"--refs expects comma-separated view numbers, got {text!r:.60}") from None
    if not refs or any(r < 0 for r in refs):
        raise InvalidInputError(f"--refs expects view numbers >= 0, got {text!r:.60}")
    return refs


def _cmd_mvs(args: argparse.Namespace) -> int:
    from .tasks.mvs import FusionParams, load_scene, reconstruct, write_ply

    # Everything is checked before the first inference.
    params = FusionParams(min_confidence=args.min_confidence, max_reprojection_px=args.max_reproj_px,
                          max_relative_depth=args.max_rel_depth, min_views=args.min_views)
    refs = _parse_refs(args.refs)
    scene = load_scene(args.scene, depth_format=args.depth_format, scale_intrinsics=args.scale_intrinsics)
    unknown = [r for r in refs or [] if r not in scene.cameras]
    if unknown:
        raise InvalidInputError(f"--refs: views {unknown} are not in the scene (views: {scene.views})")
    out = _out_dir(args.out)
    model = _load_for(args, {})
    if model.task != "mvs":
        raise InvalidInputError(f"{args.model} is a {model.task} model, not a multi-view stereo one")

    bar = None

    def progress(done, total, view, seconds):
        nonlocal bar
        if bar is None:
            bar = _progress(total, "view", "depth maps")
        bar.set_postfix_str(f"view {view} {seconds:.1f} s")
        bar.update(1)

    try:
        if args.backend == "ray":
            with _ray_depth(args, model, scene) as depth:
                result = reconstruct(model, scene, refs, params, progress=progress, depth=depth)
        else:
            result = reconstruct(model, scene, refs, params, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    (out / "depth").mkdir(parents=True, exist_ok=True)
    views = []
    for view in sorted(result.masks):
        dm = result.depth_maps[view]
        stem = out / "depth" / f"{view:08d}"
        dm.save(stem.with_suffix(".npy"))
        dm.save(stem.with_suffix(".pfm"))
        _write_image(stem.with_suffix(".png"), dm.draw())
        kept = result.masks[view]
        _write_image(out / "depth" / f"{view:08d}_mask.png", (kept * 255).astype("uint8"))
        views.append({**dm.to_dict(), "kept_pixels": int(kept.sum()), "kept_share": round(float(kept.mean()), 4)})
    write_ply(out / "fused.ply", result.xyz, result.rgb)
    summary = {"scene": str(args.scene), "engine": model.engine.name, "points": int(len(result.xyz)),
               "ply": str(out / "fused.ply"), "views": views, "helper_views": result.helpers}
    if args.json:
        _emit_json(summary)
    else:
        for v in views:
            print(f"view {v['view']}: kept {v['kept_share']:.1%} of {v['height']}x{v['width']} pixels")
        if result.helpers:
            print(f"(depth of views {result.helpers} computed to filter against, not fused)")
        print(f"{summary['points']} points -> {summary['ply']}")
    return 0


def _cmd_batch(args: argparse.Namespace) -> int:
    from .batch import ArchiveLimits, run

    bar = None

    def progress(done: int, total: int, errors: int) -> None:
        nonlocal bar
        if bar is None:
            bar = _progress(total, "item", "batch")
        bar.n = done
        bar.set_postfix_str(f"{errors} errors", refresh=False)
        bar.refresh()

    try:
        limits = ArchiveLimits(member_bytes=int(args.max_member_mb * 2**20), total_bytes=int(args.max_archive_gb * 2**30),
                               ratio=args.max_ratio)
        summary = run(args.inputs, args.model, out=args.out, engine=args.engine, backend=args.backend,
                      workers=args.workers, threads_per_worker=args.threads_per_worker, address=args.address,
                      every=args.every, trust=args.trust, options=_given_options(args),
                      depth_format=args.depth_format, scale_intrinsics=args.scale_intrinsics,
                      shard_rows=args.shard_rows, limits=limits, progress=progress)
    finally:
        if bar is not None:
            bar.close()
    if args.json:
        _emit_json(summary.to_dict())
    else:
        print(summary.line())
    return 0


def _ray_depth(args: argparse.Namespace, model, scene):
    """``edgecv mvs --backend ray``: a depth provider running the views on Ray actors."""
    from .batch import split_cores
    from .batch.holder import model_spec
    from .batch.ray_backend import depth_on_ray
    from .engines import cpu_count

    workers, threads = split_cores(args.workers, args.threads, cpu_count(), check=args.address is None)
    spec = model_spec(str(args.model), model.engine.name, threads, ship=True)
    return depth_on_ray(spec, scene, model.num_views, workers, args.address, cpu_count())


def _cmd_serve(args: argparse.Namespace) -> int:
    from .serve import ServeSettings, serve
    from .serve.protocol import ConnectionLimits

    key = args.api_key
    if key is None:
        import os

        key = os.environ.get("EDGECV_API_KEY") or None
    connections = ConnectionLimits(max_connections=args.max_connections,
                                   max_connections_per_client=args.max_connections_per_client,
                                   header_timeout=args.header_timeout, body_timeout=args.body_timeout,
                                   keep_alive=args.keep_alive)
    settings = ServeSettings(api_key=key, max_body_mb=args.max_body_mb, max_queue=args.max_queue,
                             workers=args.workers, max_pixels=args.max_pixels, source_timeout=args.timeout,
                             connections=connections)

    def ready(url: str) -> None:
        print(f"edgecv: serving {', '.join(args.models)} on {url} (Ctrl-C stops)", file=sys.stderr, flush=True)

    serve(args.models, host=args.host, port=args.port, engine=args.engine, threads=args.threads,
          settings=settings, sources=args.source or (), trust=args.trust, ready=ready)
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from . import store
    from .versions import __version__
    from .engines import engine_versions
    from .loading import available_models
    from .targets import TARGETS

    from .image import strict_jpeg
    from .native import KIND

    manifests = store.list_manifests()
    info = {"edgecv": __version__, "engines": engine_versions(), "mirror": [str(p) for p in store.mirror_dirs()],
            "cache": str(store.cache_dir()), "strict_jpeg": strict_jpeg(), "core": KIND,
            "models": {name: {"task": manifests[name].task, "licence": manifests[name].licence,
                              "source": manifests[name].source, "engines": engines}
                       for name, engines in available_models().items()}}
    if args.json:
        _emit_json(info)
        return 0
    print(f"edgecv {__version__}")
    print("engines:")
    for name, version in info["engines"].items():
        print(f"  {name:12s} {version or 'not installed (pip install edgecv[' + TARGETS[name].extra + '])'}")
    print(f"core: {'native (C++)' if info['core'] == 'native' else 'python (numpy; the compiled core is not installed or EDGECV_CORE=python)'}")
    print(f"images: {'strict JPEG decoding (simplejpeg)' if info['strict_jpeg'] else 'OpenCV (no simplejpeg: JPEG corruption is only checked for a missing end marker)'}")
    print(f"mirror ({store.ENV_MIRROR}): {', '.join(info['mirror']) or '(not set)'}")
    print(f"cache ({store.ENV_CACHE}): {info['cache']}")
    print("models (engines with all files available locally marked *):")
    print(f"  {'model':28s} {'task':9s} {'licence':30s} engines")
    for name, doc in info["models"].items():
        marks = " ".join(f"{e}{'*' if ok else ''}" for e, ok in doc["engines"].items())
        print(f"  {name:28s} {doc['task']:9s} {doc['licence']:30s} {marks}")
    return 0


def _cmd_fetch(args: argparse.Namespace) -> int:
    from .loading import fetch

    for name in args.models:
        for path in fetch(name, engines=args.engine, mirror=args.mirror):
            print(path)
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from .convert import convert, parse_renames

    size = None if args.input_size is None else _size_text(args.input_size)
    result = convert(args.model, args.task, out_dir=args.out, to=args.to, input_size=size,
                     fp16=args.fp16, rename=parse_renames(args.rename or []), name=args.name)
    renamed = result.metadata.get("renamed") or {}
    if renamed:
        print("renamed outputs: " + ", ".join(f"{k} -> {v}" for k, v in renamed.items()))
    for engine, paths in result.files.items():
        print(f"{engine:12s} " + " ".join(str(p) for p in paths))
    print(f"metadata     {result.metadata_file}")
    return 0


def _size_text(text: str):
    try:
        parts = [int(p) for p in text.lower().split("x")]
    except ValueError:
        raise InvalidInputError(f"--input-size expects N or HxW, got {text!r:.40}") from None
    if len(parts) not in (1, 2):
        raise InvalidInputError(f"--input-size expects N or HxW, got {text!r:.40}")
    return parts[0] if len(parts) == 1 else tuple(parts)


def _gate_flags(profiles: Tuple[str, ...] = ("convert", "quantize")) -> Dict[str, Tuple[str, List[str]]]:
    """flag -> (metric, [task/profile limit, ...]) for every gate of every task in ``profiles``."""
    from .tasks import TASKS

    flags: Dict[str, Tuple[str, List[str]]] = {}
    for spec in TASKS.values():
        for profile, gates in spec.gates.items():
            if profile not in profiles:
                continue
            for g in gates:
                flags.setdefault(g.flag, (g.metric, []))[1].append(f"{spec.name}/{profile} {g.limit:g}")
    return flags


def _given_limits(args: argparse.Namespace, profiles: Tuple[str, ...] = ("convert", "quantize")) -> Dict[str, float]:
    values = {metric: getattr(args, flag[2:].replace("-", "_")) for flag, (metric, _) in _gate_flags(profiles).items()}
    return {k: v for k, v in values.items() if v is not None}


class _StageBars:
    """``progress(stage, done, total)`` callbacks as one tqdm bar per stage, on stderr."""

    def __init__(self) -> None:
        self.stage: Optional[str] = None
        self.bar = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        if stage != self.stage:
            self.close()
            self.stage, self.bar = stage, _progress(total, "step", stage)
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def _int_list(text: Optional[str], what: str) -> Optional[List[int]]:
    if text is None:
        return None
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InvalidInputError(f"{what} expects comma-separated integers, got {text!r:.40}") from None


def _cmd_bench(args: argparse.Namespace) -> int:
    from .bench import bench

    if args.plot is not None and args.plot.suffix.lower() != ".png":
        raise InvalidInputError(f"--plot writes a PNG chart: give a .png file, got {args.plot}")
    bars = _StageBars()
    try:
        report = bench(args.model, images=args.images, scene=args.scene, refs=_parse_refs(args.refs),
                       engines=args.engines.split(",") if args.engines else None,
                       precisions=[p.strip() for p in args.precisions.split(",") if p.strip()],
                       threads=_int_list(args.threads, "--threads"), input_sizes=_int_list(args.input_sizes,
                                                                                         "--input-sizes"),
                       quantized=args.quantized or (), calib=args.calib, repeat=args.repeat, warmup=args.warmup,
                       progress=bars)
    finally:
        bars.close()
    if args.plot is not None:
        from .bench.chart import write_chart

        write_chart(report, args.plot)
    if args.json:
        _emit_json(report.to_rows())
    else:
        print(report.table())
        if args.plot is not None:
            print(f"chart: {args.plot}")
    return 0


def _cmd_quantize(args: argparse.Namespace) -> int:
    from .errors import QuantizationError
    from .loading import quantize

    bars = _StageBars()
    try:
        result = quantize(args.model, args.calib, precision=args.precision, to=args.to, out_dir=args.out,
                          task=args.task, holdout=args.holdout, name=args.name,
                          limits=_given_limits(args, ("quantize",)), fallback=not args.no_fallback,
                          threads=args.threads, trust=args.trust, progress=bars)
        failed = None
    except QuantizationError as exc:
        if exc.result is None:
            raise
        result, failed = exc.result, exc
    finally:
        bars.close()
    if args.json:
        _emit_json({**result.to_dict(), "passed": failed is None})
    else:
        print(result.table())
        for path in result.metadata_files:
            print(f"metadata: {path}")
    if failed is not None:
        print(f"edgecv: {' '.join(str(failed).split())}", file=sys.stderr)
        return 1
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from .validate import validate

    scene = args.scene
    if scene is not None:
        from .tasks.mvs import load_scene

        scene = load_scene(scene, depth_format=args.depth_format, scale_intrinsics=args.scale_intrinsics)
    report = validate(args.models, args.images, scene=scene, refs=_parse_refs(args.refs), threads=args.threads,
                      profile=args.profile, limits=_given_limits(args),
                      max_abs_diff=args.max_abs_diff, trust=args.trust)
    if args.json:
        _emit_json(report.to_dict())
    else:
        print(report.table())
    return 0 if report.passed else 1


def _finite_float(text: str) -> float:
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def _threads(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None


def build_parser() -> argparse.ArgumentParser:
    from .image import ENV_MAX_PIXELS, MAX_PIXELS
    from .streams.sources import DEFAULT_TIMEOUT
    from .tasks import TASKS

    parser = argparse.ArgumentParser(prog="edgecv", description="Computer-vision models on edge devices.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)

    def engine_args(p: argparse.ArgumentParser, default_model: str, threads: bool = True) -> None:
        p.add_argument("--model", "-m", default=default_model,
                       help="model name (see `edgecv info`) or .onnx/.param/.mnn path (default: %(default)s)")
        p.add_argument("--engine", "-e", choices=ENGINE_NAMES + ("auto",),
                       help="inference engine (default: onnxruntime for names, the file's engine for paths); auto: "
                            "the fastest that passed its gates in this device's profile (edgecv bench)")
        if threads:
            p.add_argument("--threads", "-t", type=_threads, help="engine threads (default: CPU cores, at most 4)")
        trust_arg(p)

    def max_pixels_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--max-pixels", type=_threads, metavar="N",
                       help=f"largest image decoded, in pixels (default: {ENV_MAX_PIXELS}, else {MAX_PIXELS:,}); "
                            "larger ones are refused before decoding")

    def trust_arg(p: argparse.ArgumentParser) -> None:
        p.add_argument("--trust", action="store_true", help="skip the child-process check of model files no "
                       "manifest vouches for (also EDGECV_TRUST_MODELS=1)")

    def scene_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("--depth-format", choices=["auto", "interval"], default="auto",
                       help="cam files' depth line: auto (MIN MAX, or MIN INTERVAL N [MAX]) or interval (MIN "
                            "INTERVAL with 192 planes, as DTU writes it)")
        p.add_argument("--scale-intrinsics", action="store_true",
                       help="scale each camera's intrinsics to its image when they describe another size")

    p = sub.add_parser("detect", help="run a model on images, videos, cameras or streams", description=(
        "Run an image model (" + ", ".join(s.title for s in TASKS.values() if s.inputs == "image") + ") on images: "
        "prints a summary per image (or JSON with --json) and writes annotated copies to --out. On one stream "
        "source (a video file, camera:N, an RTSP/HTTP URL, an image folder or glob) it writes an annotated video "
        "(folders: images) to --out, JSON Lines with --json (one object per frame), and a progress bar with "
        "frames per second on stderr for files. Task options are flags; each says which tasks take it."))
    p.add_argument("images", nargs="+", metavar="INPUT", help="image files, or one video / camera:N / URL / folder")
    engine_args(p, "yunet_n_640")
    p.add_argument("--out", "-o", help="directory for annotated images")
    p.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    p.add_argument("--fp16", action="store_true", help="half precision on ncnn/MNN (default fp32)")
    p.add_argument("--track", action="store_true", help="streams: stable ids for faces / people (ByteTrack-style)")
    p.add_argument("--live", action="store_true", help="streams: keep only the newest frame when inference is "
                   "slower than the source (default for cameras and URLs)")
    p.add_argument("--reconnect", action="store_true", help="streams: reopen a dropped URL with backoff")
    p.add_argument("--timeout", type=_finite_float, default=DEFAULT_TIMEOUT,
                   help="streams: seconds a URL may take to open or between two frames (default %(default)s)")
    max_pixels_arg(p)
    _add_option_flags(p)
    p.set_defaults(func=_cmd_detect)

    p = sub.add_parser("convert", help="rename outputs by role; convert ONNX to ncnn and MNN", description=(
        "Rename an ONNX model's outputs by role, optionally fix its input size, and convert it to ncnn "
        "(pnnx) and MNN, writing <name>.onnx/.param/.bin/.mnn and <name>.edgecv.json to --out."))
    p.add_argument("model", type=Path, help="source .onnx file")
    p.add_argument("--task", choices=list(TASKS), help="task of the model (image tasks: infer output roles; "
                   "omit to only apply --rename)")
    p.add_argument("--input-size", help="fix a dynamic input to N or HxW (SCRFD: multiple of 32)")
    p.add_argument("--to", default=",".join(ENGINE_NAMES), help="comma-separated engines (default: %(default)s; "
                   "'onnx' means onnxruntime)")
    p.add_argument("--out", "-o", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument("--name", help="output file stem (default: source stem, plus _HxW with --input-size)")
    p.add_argument("--fp16", action="store_true", help="store ncnn/MNN weights in half precision")
    p.add_argument("--rename", action="append", metavar="OLD=NEW", help="rename an output (repeatable)")
    p.set_defaults(func=_cmd_convert)

    p = sub.add_parser("quantize", help="INT8 / FP16 models per engine, judged against fp32 on held-out inputs",
                       description=(
        "Quantise an fp32 model (a name from `edgecv info` or an .onnx file) for each engine in --to: INT8 "
        "(ONNX Runtime static QDQ per channel; ncnn written by edgecv; MNN's quantiser) or FP16 (ncnn, MNN). "
        "Calibration inputs go through the task's own preprocessing; a quarter of --calib (by content hash) is "
        "held out and the result is judged there against the fp32 model with the task's gates. Layers are kept "
        "in fp32 (first and head layers, then the noisiest) until the gates hold. Writes "
        "<name>_<precision>.<suffix> per engine and <name>_<precision>.edgecv.json to --out; exits 1 when an "
        "engine fails its gates (the engines that passed are written)."))
    p.add_argument("model", help="model name or fp32 .onnx file")
    p.add_argument("--calib", "-c", required=True, type=Path,
                   help="folder of images like those the model will see (MVS: a scene folder)")
    p.add_argument("--precision", "-p", choices=["int8", "fp16"], default="int8", help="default: %(default)s")
    p.add_argument("--to", default="onnxruntime", help="comma-separated engines (default: %(default)s)")
    p.add_argument("--out", "-o", type=Path, default=Path("."), help="output directory (default: .)")
    p.add_argument("--name", help="base name of the files (default: the model's)")
    p.add_argument("--task", choices=list(TASKS), help="task, when the model's metadata or outputs do not tell")
    p.add_argument("--holdout", type=Path, help="judge on this folder instead of a held-out quarter of --calib")
    p.add_argument("--no-fallback", action="store_true", help="judge the fully quantised model only; keep no "
                   "layer in fp32")
    p.add_argument("--threads", "-t", type=_threads, help="engine threads (default: CPU cores, at most 4)")
    p.add_argument("--json", action="store_true", help="print the outcome as JSON")
    trust_arg(p)
    for flag, (metric, owners) in _gate_flags(("quantize",)).items():
        p.add_argument(flag, type=_finite_float, dest=flag[2:].replace("-", "_"),
                       help=f"limit on {metric} (default: {'; '.join(owners)})")
    max_pixels_arg(p)
    p.set_defaults(func=_cmd_quantize)

    p = sub.add_parser("bench", help="latency, memory and accuracy per engine, precision, threads and size",
                       description=(
        "Measure a model (a name or an fp32 .onnx file) on this device: for each engine, precision, thread count "
        "and input size, p50/p95 latency of the engine call and of detect(), peak RSS, and agreement with the "
        "fp32 ONNX Runtime results (the task's quantize gates decide pass/FAIL). Each configuration runs in its "
        "own process. INT8/FP16 files come from --quantized folders (edgecv quantize --out) or are quantised "
        "into the cache with --calib. The rows are saved as this device's profile, which `--engine auto` and "
        "edgecv.load(..., engine='auto') use."))
    p.add_argument("model", help="model name or fp32 .onnx file")
    p.add_argument("--images", "-i", nargs="+", type=Path, help="images to run (image tasks)")
    p.add_argument("--scene", type=Path, help="MVS: scene folder")
    p.add_argument("--refs", help="MVS: reference views, comma-separated (default: the first)")
    p.add_argument("--engines", help="comma-separated engines (default: all)")
    p.add_argument("--precisions", default="fp32", help="comma-separated of fp32,fp16,int8 (default: %(default)s)")
    p.add_argument("--threads", "-t", default="2", help="comma-separated thread counts (default: %(default)s)")
    p.add_argument("--input-sizes", help="comma-separated network input sizes (SCRFD: input_size; OpenPose: "
                   "input_height)")
    p.add_argument("--quantized", "-q", action="append", type=Path,
                   help="folder (or file) of quantised models from edgecv quantize (repeatable)")
    p.add_argument("--calib", type=Path, help="quantise the missing int8/fp16 files on this calibration folder "
                   "(cached)")
    p.add_argument("--repeat", type=int, default=20, help="timed calls per configuration (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls first (default: %(default)s)")
    p.add_argument("--json", action="store_true", help="print the rows as a JSON list")
    p.add_argument("--plot", type=Path, help="write a PNG chart")
    max_pixels_arg(p)
    p.set_defaults(func=_cmd_bench)

    p = sub.add_parser("validate", help="check that converted files agree (raw outputs and task results)",
                       description=(
        "Run the same inputs through every model file given (files, directories, or .edgecv.json metadata); "
        "compare each against the first ONNX file: per-output max/mean abs diff and task-level agreement "
        "(faces, people, depth maps) with the task's gates. Exits 1 when a gate fails."))
    p.add_argument("models", nargs="+", type=Path, help="model files, directories or .edgecv.json files")
    p.add_argument("--images", "-i", nargs="+", type=Path, help="images to compare on (image tasks)")
    p.add_argument("--scene", type=Path, help="MVS: scene folder to compare on")
    p.add_argument("--refs", help="MVS: reference views, comma-separated (default: the first)")
    p.add_argument("--threads", "-t", type=_threads, default=2, help="engine threads (default: 2)")
    trust_arg(p)
    scene_args(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--profile", choices=["convert", "quantize"],
                   help="gates: convert (every input must agree) or quantize (overall accuracy); default: "
                        "quantize when a file is int8 or precisions differ, else convert")
    p.add_argument("--max-abs-diff", type=_finite_float,
                   help="per-output limit, profile convert (default: 1e-3, or 5e-2 when a file is fp16)")
    for flag, (metric, owners) in _gate_flags().items():
        p.add_argument(flag, type=_finite_float, dest=flag[2:].replace("-", "_"),
                       help=f"limit on {metric} (default: {'; '.join(owners)})")
    max_pixels_arg(p)
    p.set_defaults(func=_cmd_validate)

    p = sub.add_parser("mvs", help="depth maps and a fused point cloud from a multi-view scene", description=(
        "Run a multi-view stereo model on every reference view of an MVSNet-format scene folder (images/, "
        "cams/, pair.txt), filter each depth map by confidence and geometric consistency with its source "
        "views, and fuse the kept pixels into one coloured point cloud: DIR/fused.ply (binary), "
        "DIR/depth/%%08d.npy/.pfm/.png and _mask.png. With --refs, source views that filtering needs are "
        "computed too (not fused)."))
    p.add_argument("scene", type=Path, help="scene folder")
    engine_args(p, "patchmatchnet_640x416_n5")
    p.add_argument("--out", "-o", required=True, help="output directory")
    p.add_argument("--refs", help="comma-separated reference views (default: all)")
    from .tasks.mvs import FusionParams

    d = FusionParams()
    p.add_argument("--min-confidence", type=_finite_float, default=d.min_confidence,
                   help="photometric confidence (default %(default)s)")
    p.add_argument("--max-reproj-px", type=_finite_float, default=d.max_reprojection_px,
                   help="reprojection error in pixels (default %(default)s)")
    p.add_argument("--max-rel-depth", type=_finite_float, default=d.max_relative_depth,
                   help="relative depth error (default %(default)s)")
    p.add_argument("--min-views", type=_threads, default=d.min_views,
                   help="consistent source views needed (default %(default)s)")
    scene_args(p)
    p.add_argument("--json", action="store_true", help="print a JSON summary")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="where depth maps are computed: here, one view after another (default), or on Ray actors "
                        "in parallel (then filtered and fused here)")
    p.add_argument("--workers", type=_threads, help="ray: actors (default: CPU cores / --threads)")
    p.add_argument("--address", help="ray: address of an existing cluster (default: start a local Ray)")
    max_pixels_arg(p)
    p.set_defaults(func=_cmd_mvs)

    p = sub.add_parser("batch", help="run a model over folders, archives, videos or scenes into a resumable "
                       "Parquet folder", description=(
        "Run one model over many inputs (folders walked recursively, globs, .txt lists of paths, tar and zip "
        "archives read in place, videos frame by frame; for multi-view stereo models, scene folders) and write "
        "one row per item into a Parquet folder (--out): path, member, frame, ok, error, count, result (JSON), "
        "task, model, engine, elapsed_ms. Shards are written atomically as work completes; re-running with the "
        "same --out skips finished items, so a killed run resumes without losing or duplicating rows. Broken "
        "inputs become error rows. Prints a summary line (items, errors, items/s)."))
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="folders, globs, .txt lists, images, archives, videos")
    engine_args(p, "yunet_n_640", threads=False)
    p.add_argument("--out", "-o", required=True, help="output folder (Parquet shards); re-run to resume")
    p.add_argument("--backend", choices=["local", "ray"], default="local",
                   help="local worker processes (default) or a Ray actor pool")
    p.add_argument("--workers", "-w", type=_threads, help="worker processes / actors (default: CPU cores / threads)")
    p.add_argument("--threads-per-worker", "-t", type=_threads,
                   help="engine threads per worker (default: CPU cores / workers); workers x threads must not "
                        "exceed the cores here")
    p.add_argument("--address", help="ray: address of an existing cluster, e.g. ray://head:10001 or auto "
                   "(default: start a local Ray for the run)")
    p.add_argument("--every", type=_threads, default=1, help="videos: every N-th frame (default: every frame)")
    from .batch.inputs import ArchiveLimits
    from .batch.shards import SHARD_ROWS

    p.add_argument("--shard-rows", type=_threads, default=SHARD_ROWS,
                   help="rows per Parquet shard at most (default %(default)s; a shard is also written every 10 s)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    limits = ArchiveLimits()
    p.add_argument("--max-member-mb", type=_finite_float, default=limits.member_bytes / 2**20,
                   help="archives: largest member read, uncompressed (default %(default)g MiB)")
    p.add_argument("--max-archive-gb", type=_finite_float, default=limits.total_bytes / 2**30,
                   help="archives: most bytes inflated from one archive (default %(default)g GiB)")
    p.add_argument("--max-ratio", type=_finite_float, default=limits.ratio,
                   help="archives: most uncompressed bytes per compressed byte, past 16 MiB (default %(default)g): "
                        "zip and tar bombs stop here")
    max_pixels_arg(p)
    scene_args(p)
    _add_option_flags(p)
    p.set_defaults(func=_cmd_batch)

    p = sub.add_parser("serve", help="an HTTP inference service with a web page, metrics and MJPEG streams",
                       description=(
        "Serve models over HTTP (FastAPI + uvicorn; pip install 'edgecv[serve]'): POST /v1/models/NAME/detect "
        "(an encoded image body, a multipart field 'image', or a raw frame with ?format=nv21&width=&height=&"
        "rotation=; ?draw=1 answers the annotated JPEG), GET /v1/models, /healthz, /metrics (Prometheus), "
        "/v1/streams/NAME.mjpg (live annotated --source) and / (a web page: upload, webcam, streams). "
        "Inference runs in a bounded pool: over --max-queue requests in hand the answer is 503 with Retry-After."))
    p.add_argument("models", nargs="+", metavar="MODEL[=NAME]",
                   help="model name or file path, served as NAME (default: the model's name or file stem)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s; 0.0.0.0: "
                   "every interface, set --api-key then)")
    p.add_argument("--port", "-p", type=int, default=8080, help="TCP port (default %(default)s; 0: any free port)")
    p.add_argument("--engine", "-e", choices=ENGINE_NAMES + ("auto",), help="inference engine for every model")
    p.add_argument("--threads", "-t", type=_threads, help="engine threads per model (default: CPU cores, at most 4)")
    p.add_argument("--workers", "-w", type=_threads, default=1,
                   help="requests computed at once (default %(default)s: one at a time, each with all --threads)")
    p.add_argument("--api-key", help="require this key (Authorization: Bearer KEY, X-API-Key or ?key=) on /v1 "
                   "and /metrics (default: EDGECV_API_KEY, else none)")
    p.add_argument("--max-body-mb", type=_finite_float, default=16.0, help="largest request body (default %(default)s)")
    p.add_argument("--max-queue", type=_threads, default=32,
                   help="requests in hand (running + waiting) before 503 (default %(default)s)")
    p.add_argument("--source", action="append", metavar="NAME[@MODEL]=VIDEO_OR_CAMERA",
                   help="a stream shown annotated at /v1/streams/NAME.mjpg: a video file (looped), camera:N or a URL "
                        "(repeatable; default model: the first image model)")
    p.add_argument("--timeout", type=_finite_float, default=DEFAULT_TIMEOUT,
                   help="--source: seconds a URL may take to open or between two frames (default %(default)s)")
    from .serve.protocol import ConnectionLimits

    c = ConnectionLimits()
    p.add_argument("--max-connections", type=_threads, default=c.max_connections,
                   help="open connections at most; more are refused at the socket (default %(default)s)")
    p.add_argument("--max-connections-per-client", type=_threads, default=c.max_connections_per_client,
                   help="open connections from one address at most (default %(default)s)")
    p.add_argument("--header-timeout", type=_finite_float, default=c.header_timeout,
                   help="seconds a connection has to send a complete request head (default %(default)s)")
    p.add_argument("--body-timeout", type=_finite_float, default=c.body_timeout,
                   help="seconds a request body (chunked too) has to arrive whole; then 408 (default %(default)s)")
    p.add_argument("--keep-alive", type=_finite_float, default=c.keep_alive,
                   help="seconds an idle connection stays open after a response (default %(default)s)")
    max_pixels_arg(p)
    trust_arg(p)
    p.set_defaults(func=_cmd_serve)

    p = sub.add_parser("info", help="installed engines and locally available models")
    p.add_argument("--json", action="store_true", help="print as JSON")
    p.set_defaults(func=_cmd_info)

    p = sub.add_parser("fetch", help="copy or download model files into the cache (sha256-checked)")
    p.add_argument("models", nargs="+", help="model names")
    p.add_argument("--engine", "-e", action="append", choices=ENGINE_NAMES,
                   help="only this engine's files (repeatable; default: all)")
    p.add_argument("--mirror", type=Path, help="copy from this mirror directory (default: EDGECV_MODELS, then download)")
    p.set_defaults(func=_cmd_fetch)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # File names that are not UTF-8 reach the output as \xNN escapes instead of ending the command.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        if getattr(args, "max_pixels", None) is not None:  # this process and every worker it starts
            from .image import ENV_MAX_PIXELS, pixel_limit

            os.environ[ENV_MAX_PIXELS] = str(pixel_limit(args.max_pixels))
        return args.func(args)
    except KeyboardInterrupt:
        print("edgecv: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed by the reader (`edgecv ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except EdgecvError as exc:
        if args.debug:
            raise
        print(f"edgecv: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        if args.debug:
            raise
        print(f"edgecv: unexpected error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
              "run with --debug for the traceback and please report it", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``edgecv detect``: an image model on images (a summary per image, annotated copies, JSON) or on one stream
source (an annotated video or images, JSON Lines, a progress bar)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Set

from ..errors import ImageReadError, InvalidInputError
from .args import finite_float, json_arg, max_pixels_arg, model_args
from .options import add_option_flags, given_options, load_model
from .output import emit_json, out_dir, progress_bar, write_image

DEFAULT_MODEL = "yunet_n_640"


def register(sub) -> None:
    from ..streams.sources import DEFAULT_TIMEOUT
    from ..tasks import IMAGE, TASKS

    p = sub.add_parser("detect", help="run a model on images, videos, cameras or streams", description=(
        "Run an image model (" + ", ".join(s.title for s in TASKS.values() if s.inputs == IMAGE) + ") on images: "
        "prints a summary per image (or JSON with --json) and writes annotated copies to --out. On one stream "
        "source (a video file, camera:N, an RTSP/HTTP URL, an image folder or glob) it writes an annotated video "
        "(folders: images) to --out, JSON Lines with --json (one object per frame), and a progress bar with "
        "frames per second on stderr for files. Task options are flags; each says which tasks take it."))
    p.add_argument("images", nargs="+", metavar="INPUT", help="image files, or one video / camera:N / URL / folder")
    model_args(p, DEFAULT_MODEL)
    p.add_argument("--out", "-o", help="directory for annotated images")
    json_arg(p, "results")
    p.add_argument("--fp16", action="store_true", help="half precision on engines that have it (default fp32)")
    p.add_argument("--track", action="store_true", help="streams: stable ids for faces / people (ByteTrack-style)")
    p.add_argument("--live", action="store_true", help="streams: keep only the newest frame when inference is "
                   "slower than the source (default for cameras and URLs)")
    p.add_argument("--reconnect", action="store_true", help="streams: reopen a dropped URL with backoff")
    p.add_argument("--timeout", type=finite_float, default=DEFAULT_TIMEOUT,
                   help="streams: seconds a URL may take to open or between two frames (default %(default)s)")
    max_pixels_arg(p)
    add_option_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..image import read_image
    from ..streams import is_stream_source
    from ..tasks import IMAGE, get_task

    streams = [p for p in args.images if is_stream_source(p)]
    if streams:
        if len(args.images) != 1:
            raise InvalidInputError(f"give one stream source (video, camera, URL, folder or glob) or image files; got "
                                    f"{len(args.images)} inputs including {streams[0]}")
        return run_stream(args, args.images[0])
    if args.track or args.live or args.reconnect:
        raise InvalidInputError("--track, --live and --reconnect are for streams (video, camera, URL, folder)")
    missing = [p for p in args.images if not Path(p).is_file()]
    if missing:
        raise ImageReadError(f"image file not found: {missing[0]}" + (f" (and {len(missing) - 1} more)"
                                                                       if len(missing) > 1 else ""))
    folder = out_dir(args.out)
    model = load_model(args, given_options(args))
    spec = get_task(model.task)
    if spec.inputs != IMAGE:
        raise InvalidInputError(f"{args.model} is a {spec.name} model (input: several views); "
                                f"run `edgecv {spec.name} SCENE_DIR --model {args.model}`")
    report = []
    for path in args.images:
        image = read_image(path)
        result = model.detect(image)
        entry = {"image": str(path), "width": image.shape[1], "height": image.shape[0], **result.to_dict()}
        if folder:
            target = write_image(folder / (Path(path).stem + ".jpg"), result.draw(image))
            entry["annotated"] = str(target)
        report.append(entry)
        if not args.json:
            noun = spec.nouns[len(result) != 1]
            print(f"{path}: {len(result)} {noun}" + (f" -> {entry['annotated']}" if folder else ""), flush=True)
    if args.json:
        emit_json({"model": str(args.model), "engine": model.engine.name, "results": report})
    return 0


def stream_target(out: Path, source: str, live: bool) -> Path:
    """Where the annotated video of a stream goes: out/<name><suffix of the input, or .mp4>."""
    from ..streams.writer import FOURCC

    path = Path(source)
    if live or "://" in source or not path.suffix:
        stem = "camera" + "".join(c for c in source if c.isdigit()) if "://" not in source else "stream"
        return out / f"{stem}.mp4"
    return out / (path.stem + (path.suffix.lower() if path.suffix.lower() in FOURCC else ".mp4"))


def run_stream(args: argparse.Namespace, source: str) -> int:
    """`edgecv detect VIDEO|camera:N|URL|FOLDER`: an annotated video (folders: annotated images) in --out, JSON
    Lines with --json, a progress bar with frames per second on stderr for files."""
    from ..streams import ImageSequenceSource, write_json_line
    from ..streams.writer import VideoOutput
    from ..tasks import IMAGE, get_task

    folder_out = out_dir(args.out)
    model = load_model(args, given_options(args))
    spec = get_task(model.task)
    if spec.inputs != IMAGE:
        raise InvalidInputError(f"{args.model} is a {spec.name} model; streams of frames need an image model")
    options = {k: v for k, v in given_options(args).items() if any(o.name == k and o.per_call for o in spec.options)}
    stream = model.stream(source, track=args.track, live=True if args.live else None, reconnect=args.reconnect,
                          timeout=args.timeout, **options)
    src = stream.source
    folder = isinstance(src, ImageSequenceSource)
    video = None if (folder_out is None or folder) else VideoOutput(stream_target(folder_out, source, src.live),
                                                                    src.fps or 10)
    counts, started = 0, time.monotonic()
    tracks: Set[int] = set()
    interrupted = False
    bar = progress_bar(src.count, "frame", Path(source).name) if src.count else None
    try:
        for item in stream:
            counts += len(item.result)
            if getattr(item.result, "track_ids", None) is not None:
                tracks.update(int(i) for i in item.result.track_ids if i >= 0)
            if folder_out is not None:
                drawn = item.result.draw(item.frame)
                if folder:
                    write_image(folder_out / Path(src.paths[item.index]).name, drawn)
                elif video is not None:
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
               + (f" -> {written}" if written else (f" -> {folder_out}" if folder and folder_out else "")))
    print(summary, file=sys.stderr if args.json else sys.stdout, flush=True)
    if interrupted:
        print("edgecv: interrupted", file=sys.stderr)
        return 130
    return 0

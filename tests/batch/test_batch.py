"""edgecv batch: real models over real photos, broken files, archives and a video; local processes and a local
Ray (2 CPUs) give the same rows; a run killed with SIGKILL resumes to exactly one row per input; the MVS
depth maps computed on Ray equal the local ones."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import run_python, run_without_module

FAST = "scrfd_500m_bnkps_640"
VIDEO_EVERY = 40
ARCHIVE = ("street_6.jpg", "street_9.jpg")
NOT_UTF8 = os.fsdecode(b"caf\xe9.jpg")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, shared) -> dict:
    """Photos (one in a sub-folder), three broken files, a tar, a tar.gz, a zip and a video."""
    root = tmp_path_factory.mktemp("batch-in")
    photos = root / "photos"
    (photos / "sub").mkdir(parents=True)
    images = shared / "images"
    for name in ("group_t1.jpg", "street_1.jpg"):
        shutil.copy(images / name, photos / name)
    shutil.copy(images / "portrait_tom_hanks.png", photos / "sub" / "portrait.png")
    (photos / "empty.jpg").write_bytes(b"")
    data = (images / "street_4.jpg").read_bytes()
    (photos / "truncated.jpg").write_bytes(data[: len(data) * 2 // 3])
    (photos / "notes.jpg").write_text("not an image\n")
    (photos / "readme.md").write_text("ignored: not an image suffix\n")
    shutil.copy(images / "street_9.jpg", photos / NOT_UTF8)  # a file name that is not UTF-8
    with tarfile.open(root / "faces.tar", "w", format=tarfile.GNU_FORMAT, errors="surrogateescape") as t:
        for name in ARCHIVE:
            t.add(images / name, arcname=f"day1/{name}")
        t.add(images / "street_6.jpg", arcname=f"day1/{NOT_UTF8}")
    with tarfile.open(root / "faces.tar.gz", "w:gz") as t:
        t.add(images / "street_12.jpg", arcname="street_12.jpg")
        t.add(images / "group_t1.jpg", arcname="group.jpg")
    with zipfile.ZipFile(root / "faces.zip", "w") as z:
        z.write(images / "street_1.jpg", "a/street_1.jpg")
        z.writestr("b/broken.jpg", data[:1000])
    listing = root / "list.txt"
    listing.write_text("# a list of inputs\nfaces.tar\nfaces.tar.gz\n\nfaces.zip\n")
    video = shared / "video" / "pets_walk_480x360.avi"
    return {"root": root, "args": [str(photos), str(listing), str(video)], "video": video, "images": images}


def _rows(out: Path) -> list:
    from edgecv import batch

    return batch.read_results(out).drop_columns(["elapsed_ms"]).to_pylist()


@pytest.fixture(scope="module")
def local_run(inputs, tmp_path_factory):
    from edgecv import batch

    out = tmp_path_factory.mktemp("batch-local") / "out"
    summary = batch.run(inputs["args"], FAST, out=out, engine="onnxruntime", every=VIDEO_EVERY, workers=2,
                        threads_per_worker=1)
    return summary, out


def test_local_rows_cover_every_input_with_real_results(local_run, inputs):
    import cv2

    import edgecv

    summary, out = local_run
    rows = _rows(out)
    frames = int(cv2.VideoCapture(str(inputs["video"])).get(cv2.CAP_PROP_FRAME_COUNT))
    video_rows = len(range(0, frames, VIDEO_EVERY))
    assert summary.items == summary.processed == len(rows) == 7 + 3 + 2 + 2 + video_rows
    assert len({r["key"] for r in rows}) == len(rows)
    errors = {(Path(r["path"]).name, r["member"]): r["error"] for r in rows if not r["ok"]}
    assert set(errors) == {("empty.jpg", None), ("truncated.jpg", None), ("notes.jpg", None),
                           ("faces.zip", "b/broken.jpg")}
    assert summary.errors == 4
    assert "empty" in errors[("empty.jpg", None)] and "truncated" in errors[("truncated.jpg", None)]
    assert all(e.startswith("ImageReadError: ") for e in errors.values())

    # Every ok row is what detect() gives on the same pixels, read the same way.
    model = edgecv.load(FAST, engine="onnxruntime", threads=1)
    by_member = {r["member"]: r for r in rows if r["member"]}
    for member, name in [("day1/street_6.jpg", "street_6.jpg"), ("day1/street_9.jpg", "street_9.jpg"),
                         ("street_12.jpg", "street_12.jpg"), ("group.jpg", "group_t1.jpg"),
                         ("a/street_1.jpg", "street_1.jpg"), ("day1/caf\\xe9.jpg", "street_6.jpg")]:
        want = model.detect(inputs["images"] / name).to_dict()
        assert json.loads(by_member[member]["result"]) == want, member
        assert by_member[member]["count"] == want["count"]
    assert sum(r["count"] for r in by_member.values() if r["ok"]) > 10
    # Names that are not UTF-8 are processed like any other, written with \xNN escapes.
    odd = next(r for r in rows if r["path"].endswith("caf\\xe9.jpg"))
    assert odd["ok"] and json.loads(odd["result"]) == model.detect(inputs["images"] / "street_9.jpg").to_dict()
    video = sorted((r for r in rows if r["frame"] is not None), key=lambda r: r["frame"])
    assert [r["frame"] for r in video] == list(range(0, frames, VIDEO_EVERY))
    cap = cv2.VideoCapture(str(inputs["video"]))
    cap.set(cv2.CAP_PROP_POS_FRAMES, 2 * VIDEO_EVERY)
    ok, frame = cap.read()
    assert ok and json.loads(video[2]["result"]) == model.detect(frame).to_dict()
    assert {r["model"] for r in rows} == {FAST} and {r["engine"] for r in rows} == {"onnxruntime"}
    assert {r["task"] for r in rows} == {"scrfd"}


def test_ray_backend_gives_identical_rows(local_run, inputs, tmp_path, monkeypatch):
    from edgecv import batch

    monkeypatch.chdir(tmp_path)  # Ray puts the driver's folder on its workers' sys.path: not the source tree

    _, local_out = local_run
    summary = batch.run(inputs["args"], FAST, out=tmp_path / "ray", engine="onnxruntime", every=VIDEO_EVERY,
                        backend="ray", workers=2, threads_per_worker=1)
    assert summary.backend == "ray" and summary.processed == summary.items
    assert _rows(tmp_path / "ray") == _rows(local_out)


def test_a_rerun_skips_finished_items_and_refuses_another_model(local_run, inputs):
    from edgecv import batch
    from edgecv.errors import InvalidInputError

    summary, out = local_run
    before = sorted(p.name for p in out.iterdir())
    again = batch.run(inputs["args"], FAST, out=out, engine="onnxruntime", every=VIDEO_EVERY)
    assert (again.skipped, again.processed) == (summary.items, 0)
    assert sorted(p.name for p in out.iterdir()) == before
    with pytest.raises(InvalidInputError, match="another run .*model"):
        batch.run(inputs["args"], "scrfd_2.5g_bnkps_640", out=out, every=VIDEO_EVERY)
    with pytest.raises(InvalidInputError, match="every"):
        batch.run(inputs["args"], FAST, out=out, engine="onnxruntime", every=5)


def test_bad_arguments_are_typed_errors_before_any_work(inputs, tmp_path):
    from edgecv import batch
    from edgecv.errors import InvalidInputError

    cores = os.cpu_count()
    with pytest.raises(InvalidInputError, match="oversubscribe"):
        batch.run(inputs["args"], FAST, out=tmp_path / "a", workers=cores, threads_per_worker=2)
    with pytest.raises(InvalidInputError, match="no such file"):
        batch.run([str(tmp_path / "missing")], FAST, out=tmp_path / "b")
    with pytest.raises(InvalidInputError, match="matches no file"):
        batch.run([str(tmp_path / "*.jpg")], FAST, out=tmp_path / "c")
    with pytest.raises(InvalidInputError, match="backend"):
        batch.run(inputs["args"], FAST, out=tmp_path / "d", backend="spark")
    assert not any(tmp_path.iterdir())  # nothing written for a refused run
    result = run_without_module("pyarrow", f"edgecv.batch.run([{inputs['args'][0]!r}], {FAST!r}, out='x')",
                                "FeatureNotInstalledError")
    assert "OK" in result.stdout and "edgecv[batch]" in result.stdout, result.stderr[-500:]
    result = run_without_module("ray", f"edgecv.batch.run([{inputs['args'][0]!r}], {FAST!r}, out='x', backend='ray')",
                                "FeatureNotInstalledError")
    assert "OK" in result.stdout and "edgecv[batch]" in result.stdout, result.stderr[-500:]


def test_an_unreadable_shard_is_kept_aside_and_its_items_redone(inputs, tmp_path):
    from edgecv import batch

    photos = inputs["args"][0]
    first = batch.run([photos], FAST, out=tmp_path, engine="onnxruntime", shard_rows=2)
    shards = sorted(tmp_path.glob("part-*.parquet"))
    assert first.shards == len(shards) == 4  # 7 images, 2 rows a shard
    shards[0].write_bytes(shards[0].read_bytes()[:100])  # damaged by hand, e.g. a half-finished copy
    second = batch.run([photos], FAST, out=tmp_path, engine="onnxruntime")
    assert (second.skipped, second.processed) == (5, 2)
    assert (tmp_path / (shards[0].name + ".unreadable")).is_file()
    rows = _rows(tmp_path)
    assert len(rows) == len({r["key"] for r in rows}) == 7


def test_a_worker_killed_mid_run_loses_no_item(inputs, tmp_path):
    """A worker dying (as on a native crash) restarts the pool; the items it held are redone."""
    from edgecv import batch

    video = str(inputs["video"])
    result = {}
    run = threading.Thread(target=lambda: result.update(summary=batch.run(
        [video], FAST, out=tmp_path, engine="onnxruntime", every=2, workers=2, threads_per_worker=1,
        shard_rows=16)))
    run.start()
    deadline = time.monotonic() + 120
    while not any(tmp_path.glob("part-*.parquet")) and time.monotonic() < deadline:
        time.sleep(0.05)
    workers = _children(os.getpid())
    assert len(workers) == 2
    os.kill(workers[-1], signal.SIGKILL)
    run.join(300)
    summary = result["summary"]
    rows = _rows(tmp_path)
    assert summary.processed < summary.items or summary.items == len(range(0, 795, 2))
    assert summary.items == len(rows) == len({r["key"] for r in rows}) == len(range(0, 795, 2))
    assert all(r["ok"] for r in rows), [r["error"] for r in rows if not r["ok"]][:3]
    assert workers[-1] not in _children(os.getpid())  # a new pool replaced the broken one


def _children(pid: int) -> list:
    """Pool worker processes of ``pid`` (not multiprocessing's resource tracker), oldest first."""
    kids = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, IndexError):
            continue
        if int(stat[1]) == pid and "spawn_main" in cmd and "resource_tracker" not in cmd:
            kids.append(int(entry.name))
    return sorted(kids)


def test_sigkill_partway_then_resume_gives_exactly_one_row_per_input(inputs, tmp_path):
    out = tmp_path / "out"
    video = str(inputs["video"])
    cmd = [sys.executable, "-m", "edgecv", "batch", video, "-m", FAST, "--out", str(out), "--every", "2",
           "--workers", "2", "--shard-rows", "16", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path)
    deadline = time.monotonic() + 120
    while len(list(out.glob("part-*.parquet"))) < 3 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    workers = _children(proc.pid)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    done_before = len(_rows(out))
    total = len(range(0, 795, 2))
    assert 0 < done_before < total
    # The orphaned workers notice their driver is gone and exit.
    deadline = time.monotonic() + 30
    while any(_alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not any(_alive(w) for w in workers)

    resumed = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-800:]
    summary = json.loads(resumed.stdout)
    rows = _rows(out)
    assert summary["skipped"] == done_before and summary["processed"] == total - done_before
    assert len(rows) == len({r["key"] for r in rows}) == total
    assert sorted(r["frame"] for r in rows) == list(range(0, 795, 2))
    assert all(r["ok"] for r in rows)
    # no partial shard left behind (the run lock stays: the OS released it with the killed process)
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != ".edgecv_batch.lock"]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def test_cli_batch_prints_a_summary_and_one_line_errors(inputs, tmp_path):
    result = run_python("-m", "edgecv", "batch", inputs["args"][0], "-m", FAST, "--out", str(tmp_path / "o"))
    assert result.returncode == 0, result.stderr[-500:]
    assert "7 items, 3 errors" in result.stdout and "items/s" in result.stdout
    bad = run_python("-m", "edgecv", "batch", inputs["args"][0], "-m", FAST, "--out", str(tmp_path / "p"),
                     "--workers", "64", "--threads-per-worker", "64")
    # argparse's typed converters refuse the option itself: usage, then one line naming it, exit 2
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines()[-1].startswith("edgecv batch: error: argument --threads-per-worker")


def test_mvs_depth_maps_on_ray_equal_the_local_ones(shared, tmp_path, monkeypatch):
    import edgecv
    from edgecv.batch import ModelSpec
    from edgecv.batch.ray_backend import depth_on_ray
    from edgecv.tasks.mvs import FusionParams, load_scene, reconstruct

    monkeypatch.chdir(tmp_path)  # Ray puts the driver's folder on its workers' sys.path: not the source tree
    scene = load_scene(shared / "data" / "mvs_office_8view")
    model = edgecv.load("patchmatchnet_640x416_n5", threads=1)
    params = FusionParams(min_views=2)
    local = reconstruct(model, scene, [0], params)
    spec = ModelSpec("patchmatchnet_640x416_n5", "onnxruntime", 1)
    with depth_on_ray(spec, scene, model.num_views, workers=2, cpus=2) as depth:
        remote = reconstruct(model, scene, [0], params, depth=depth)
    assert sorted(remote.depth_maps) == sorted(local.depth_maps) and len(local.depth_maps) >= 3
    for view, dm in local.depth_maps.items():
        assert np.array_equal(dm.depth, remote.depth_maps[view].depth), view
        assert np.array_equal(dm.confidence, remote.depth_maps[view].confidence), view
    assert len(local.xyz) > 10000 and np.array_equal(local.xyz, remote.xyz)


def test_batch_over_a_scene_folder_gives_one_row_per_reference_view(shared, tmp_path):
    from edgecv import batch
    from edgecv.tasks.mvs.scene import read_pair_file

    # five of the eight views (the model's view count), with pair.txt narrowed to them: every view a reference once
    keep = [0, 1, 3, 4, 7]
    source, scene = shared / "data" / "mvs_office_8view", tmp_path / "scene"
    for sub, suffix in (("images", ".jpg"), ("cams", "_cam.txt")):
        (scene / sub).mkdir(parents=True)
        for v in keep:
            shutil.copyfile(source / sub / f"{v:08d}{suffix}", scene / sub / f"{v:08d}{suffix}")
    pairs = read_pair_file(source / "pair.txt")  # sources best first; scores written in that order
    text = [str(len(keep))]
    for v in keep:
        sources = [s for s in pairs[v] if s in keep]
        text += [str(v), f"{len(sources)} " + " ".join(f"{s} {len(sources) - k}" for k, s in enumerate(sources))]
    (scene / "pair.txt").write_text("\n".join(text) + "\n")
    out = tmp_path / "out"
    summary = batch.run([str(scene)], "patchmatchnet_640x416_n5", out=out, workers=2)
    rows = _rows(out)
    assert summary.errors == 0 and sorted(r["frame"] for r in rows) == keep
    for r in rows:
        doc = json.loads(r["result"])
        assert doc["view"] == r["frame"] and doc["valid_pixels"] > 0.5 * doc["height"] * doc["width"]

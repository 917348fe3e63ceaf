"""Model resolution: mirror, cache, sha256 checks, offline behaviour, `edgecv fetch`."""

from __future__ import annotations

import shutil

import pytest
from conftest import SCRFD, SHARED

import edgecv
from edgecv import store
from edgecv.errors import ChecksumError, DownloadError, ModelNotFoundError

ONNX = "scrfd_2.5g_bnkps_shape640x640.onnx"


def test_manifests_declare_sha256_and_source_for_every_file():
    manifests = store.list_manifests()
    assert {"scrfd_2.5g_bnkps_640", "scrfd_500m_bnkps_640", "lightweight_openpose_hpe0001"} <= set(manifests)
    assert set(manifests[SCRFD].files) == {"onnxruntime", "ncnn", "mnn"}
    # OpenVINO reads the ONNX file: every model with one runs on it, nothing converted
    assert manifests["lightweight_openpose_hpe0001"].engines == ["onnxruntime", "ncnn", "mnn", "openvino"]
    assert manifests[SCRFD].files_source("openvino") == "onnxruntime"
    # ONNX files exported for ../shared from public weights (OpenVINO IR, a checkpoint): no URL of their own.
    local_exports = {"lightweight_openpose_hpe0001", "patchmatchnet_640x416_n5"}
    for m in manifests.values():
        assert m.source.startswith("https://")
        for files in [*m.files.values(), *m.sources.values()]:
            for f in files:
                assert len(f.sha256) == 64 and (f.url.startswith("https://") or m.name in local_exports)
                local = SHARED / "models" / m.mirror / f.name
                assert store.sha256_file(local) == f.sha256
        assert set(m.convert.values()) <= {"onnxruntime", *m.sources}


def test_file_without_url_says_to_use_a_mirror(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_MODELS", str(tmp_path / "empty"))
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DownloadError, match="no public download URL"):
        edgecv.load("lightweight_openpose_hpe0001")


def test_converted_engine_files_are_cached_and_reverified(tmp_path, monkeypatch, edgecv_log):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    first = edgecv.load("lightweight_openpose_hpe0001", engine="mnn", threads=1).engine.files[0]
    assert first.parent == tmp_path / "cache" / "lightweight_openpose_hpe0001" / "converted-mnn"
    stamp = first.stat().st_mtime_ns
    again = edgecv.load("lightweight_openpose_hpe0001", engine="mnn", threads=1).engine.files[0]
    assert again == first and again.stat().st_mtime_ns == stamp  # reused, not converted again
    first.write_bytes(first.read_bytes()[:-10])  # damaged: converted again (WARNING), not used
    third = edgecv.load("lightweight_openpose_hpe0001", engine="mnn", threads=1).engine.files[0]
    assert any(r.levelname == "WARNING" and "converting again" in r.getMessage() for r in edgecv_log)
    assert third.stat().st_mtime_ns != stamp
    assert edgecv.loading.available_models()["lightweight_openpose_hpe0001"]["mnn"]


def test_mirror_resolution_and_checksum_mismatch(tmp_path, monkeypatch):
    mirror = tmp_path / "mirror" / SCRFD
    mirror.mkdir(parents=True)
    data = bytearray((SHARED / "models" / SCRFD / ONNX).read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte
    (mirror / ONNX).write_bytes(bytes(data))
    monkeypatch.setenv("EDGECV_MODELS", str(tmp_path / "mirror"))
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        edgecv.load(SCRFD)


def test_offline_without_mirror_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_MODELS", str(tmp_path / "empty"))
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DownloadError, match="EDGECV_OFFLINE"):
        edgecv.load(SCRFD)
    with pytest.raises(ModelNotFoundError, match="not in the mirror"):
        edgecv.load(SCRFD, download=False)


def test_fetch_from_mirror_fills_the_cache(tmp_path, monkeypatch, photos, edgecv_log):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    paths = edgecv.fetch(SCRFD, engines=["ncnn"], mirror=SHARED / "models")
    assert [p.name for p in paths] == ["scrfd_2.5g_bnkps_shape640x640.opt.param",
                                       "scrfd_2.5g_bnkps_shape640x640.opt.bin"]
    assert all(p.parent == tmp_path / "cache" / SCRFD for p in paths)
    # With no mirror at all, the model now loads from the cache.
    monkeypatch.setenv("EDGECV_MODELS", "")
    model = edgecv.load(SCRFD, engine="ncnn", threads=1, download=False)
    assert model.engine.files[0] == paths[0]
    assert len(model.detect(photos["group_t1.jpg"])) == 6
    assert edgecv.loading.available_models()[SCRFD] == {"onnxruntime": False, "ncnn": True, "mnn": False,
                                                         "openvino": False}
    # A damaged cache file is detected (WARNING), removed and never used; offline, that leaves nothing.
    shutil.copyfile(SHARED / "models" / SCRFD / "scrfd_2.5g_bnkps_shape640x640.mnn", paths[1])
    with pytest.raises(ModelNotFoundError, match="not in the mirror"):
        edgecv.load(SCRFD, engine="ncnn", download=False)
    assert not paths[1].exists() and any("damaged" in r.getMessage() for r in edgecv_log)
    # fetch (mirror from EDGECV_MODELS this time) heals it.
    monkeypatch.setenv("EDGECV_MODELS", str(SHARED / "models"))
    assert edgecv.fetch(SCRFD, engines=["ncnn"]) == paths and paths[1].is_file()


def test_fetch_converts_from_a_mirrored_source_file(tmp_path, monkeypatch):
    """fetch --mirror for an engine converted from a `sources` file (PatchmatchNet's portable graph for
    ncnn) copies that source from the given mirror, with no EDGECV_MODELS set."""
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGECV_MODELS", "")
    paths = edgecv.fetch("patchmatchnet_640x416_n5", engines=["ncnn"], mirror=SHARED / "models")
    assert [p.suffix for p in paths] == [".param", ".bin"]
    assert (tmp_path / "cache" / "patchmatchnet_640x416_n5" / "patchmatchnet_portable_640x416_n5.onnx").is_file()


def test_fetch_without_mirror_uses_the_models_mirror(tmp_path, monkeypatch):
    """Regression: `edgecv fetch lightweight_openpose_hpe0001 --engine ncnn` with EDGECV_MODELS set but no
    --mirror said the file was not in the mirror."""
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("EDGECV_MODELS", str(SHARED / "models"))
    paths = edgecv.fetch("lightweight_openpose_hpe0001", engines=["ncnn"])
    assert [p.suffix for p in paths] == [".param", ".bin"]
    assert (tmp_path / "cache" / "lightweight_openpose_hpe0001" / "lightweight_openpose_hpe0001.onnx").is_file()

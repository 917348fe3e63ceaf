"""One loaded model used from several threads at once gives exactly the sequential results, per engine.
(ONNX Runtime sessions are thread safe; the ncnn adapter makes one extractor per call; the MNN adapter
serialises calls on a session with a lock.)"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import ENGINES, PHOTOS

import edgecv


def _same(a, b):
    for field in ("boxes", "scores", "landmarks", "keypoints"):
        if hasattr(a, field):
            x, y = getattr(a, field), getattr(b, field)
            assert (x is None and y is None) or np.array_equal(x, y), field


@pytest.mark.parametrize("engine", ENGINES)
def test_scrfd_from_many_threads(engine, photos):
    model = edgecv.load("scrfd_2.5g_bnkps_640", engine=engine, threads=1)
    images = [photos[p] for p in PHOTOS] * 3
    sequential = [model.detect(img) for img in images]
    with ThreadPoolExecutor(max_workers=4) as pool:
        concurrent = list(pool.map(model.detect, images))
    for a, b in zip(sequential, concurrent):
        _same(a, b)


@pytest.mark.parametrize("engine", ENGINES)
def test_openpose_from_many_threads(engine, photos, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path))
    model = edgecv.load("lightweight_openpose_hpe0001", engine=engine, threads=1)
    images = [photos["street_1.jpg"], photos["street_4.jpg"], photos["group_t1.jpg"]] * 2
    sequential = [model.detect(img) for img in images]
    with ThreadPoolExecutor(max_workers=3) as pool:
        concurrent = list(pool.map(model.detect, images))
    for a, b in zip(sequential, concurrent):
        _same(a, b)

"""detect() and streams write the network input into arrays reused from call to call: same results as fresh
arrays whatever the sequence of image sizes, threads or errors; prepare()'s arrays are never reused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from conftest import SCRFD

import edgecv
from edgecv.errors import InvalidInputError
from edgecv.tasks.input_buffers import InputBuffers


def _fresh(model, image, **options):
    """The pipeline without reuse: prepare() makes a new array every time."""
    prepared = model.prepare(image, **options)
    return model.postprocess(model.infer(prepared), prepared)


def _same(a, b):
    assert len(a) == len(b)
    np.testing.assert_array_equal(a.boxes, b.boxes)
    np.testing.assert_array_equal(a.scores, b.scores)
    np.testing.assert_array_equal(a.landmarks, b.landmarks)


@pytest.mark.parametrize("name, engine", [(SCRFD, "onnxruntime"), ("yunet_n_640", "onnxruntime"), (SCRFD, "mnn")])
def test_reuse_gives_the_results_of_fresh_arrays(name, engine, photos):
    model = edgecv.load(name, engine=engine, threads=2)
    # landscape, portrait, small (upscaled), the same again: the padding moves between calls
    images = [photos["group_t1.jpg"], photos["street_1.jpg"], photos["street_6.jpg"], photos["group_t1.jpg"],
              photos["group_t1.jpg"], photos["street_6.jpg"], photos["street_1.jpg"]]
    kept = model.prepare(images[0])
    kept_copy = kept.feeds[model.input_name].copy()
    for image in images:
        _same(model.detect(image), _fresh(model, image))
        _same(model.detect(image, rotation=90), _fresh(model, image, rotation=90))
    assert len(model._input_buffers) == 1  # one caller at a time: one array, reused
    np.testing.assert_array_equal(kept.feeds[model.input_name], kept_copy)  # prepare()'s array untouched
    outputs, prepared = model.run_engine(images[0])
    assert prepared.feeds == {} and set(outputs) == set(model.output_names)


def test_mnn_reads_its_host_tensor_in_place(photos):
    """MNN's input arrays are its own host tensors' memory: the engine must read what is there now (not a copy
    of an earlier call) and the memory must live as long as the array, whatever happens to the model."""
    import gc

    model = edgecv.load(SCRFD, engine="mnn", threads=1)
    blobs = [model.prepare(photos[n]).feeds[model.input_name] for n in ("group_t1.jpg", "street_6.jpg")]
    array = model.engine.new_input(blobs[0].shape)
    assert type(array.base).__name__ == "_HostInput" and array.base.holds(array)
    expected = [model.engine.run({model.input_name: b}) for b in blobs]
    assert not np.array_equal(expected[0]["score_8"], expected[1]["score_8"])
    for blob, want in zip(blobs + blobs[::-1], expected + expected[::-1]):
        array[...] = blob
        got = model.engine.run({model.input_name: array})
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
    assert not array.base.holds(array[:, :, :320])  # a part of it goes through MNN's copying path
    del model
    gc.collect()
    np.testing.assert_array_equal(array, blobs[0])  # the tensor's memory is still there


def test_threads_each_get_their_own_array(photos):
    model = edgecv.load(SCRFD, engine="onnxruntime", threads=1)
    names = ["group_t1.jpg", "street_1.jpg", "street_6.jpg", "street_9.jpg"] * 3
    expected = {n: _fresh(model, photos[n]) for n in set(names)}
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda n: (n, model.detect(photos[n])), names))
    for n, faces in results:
        _same(faces, expected[n])
    assert 1 <= len(model._input_buffers) <= 2  # bounded whatever the number of callers


def test_a_refused_call_leaves_the_array_correct(photos):
    model = edgecv.load(SCRFD, engine="onnxruntime", threads=1)
    image = photos["street_6.jpg"]
    model.detect(image)
    with pytest.raises(InvalidInputError):
        model.detect(image[:, :, :2])
    with pytest.raises(InvalidInputError):
        model.detect(image, score_threshold=2.0)
    _same(model.detect(image), _fresh(model, image))


def test_pool_bounds_and_shapes():
    pool = InputBuffers(keep=2)
    with pool.borrow() as a, pool.borrow() as b, pool.borrow() as c:
        arrays = [lease.get((1, 3, 8, 8)).array for lease in (a, b, c)]
        assert len({id(x) for x in arrays}) == 3
    assert len(pool) == 2
    with pool.borrow() as lease:
        buffer = lease.get((1, 3, 8, 8))
        assert any(buffer.array is x for x in arrays)
        assert lease.get((1, 3, 16, 8)).array.shape == (1, 3, 16, 8)  # another size: another array
        assert any(b.array is buffer.array for b in pool._idle)  # and the first one is back in the pool
    assert len(pool) == 2

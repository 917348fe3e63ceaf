"""ncnn runs on the caller's numpy memory only for inputs no layer can work on in place: the same outputs as on a
copy, the caller's array left as it was, and a copy for the inputs that feed in-place or pass-through layers."""

from __future__ import annotations

import numpy as np
from conftest import SCRFD

import edgecv


def test_inputs_read_in_place_give_the_outputs_of_a_copy(photos):
    engine = edgecv.load(SCRFD, engine="ncnn", threads=2).engine
    assert engine.borrowed_inputs == {"input.1"}  # its first layer is a convolution
    blobs = [edgecv.load(SCRFD, engine="onnxruntime").prepare(photos[n]).feeds["input.1"]
             for n in ("group_t1.jpg", "street_6.jpg")]
    for blob in blobs:
        kept = blob.copy()
        borrowed = engine.run({"input.1": blob})
        np.testing.assert_array_equal(blob, kept)  # ncnn did not write into the caller's array
        engine.borrowed_inputs = frozenset()  # the copying path
        try:
            copied = engine.run({"input.1": blob})
        finally:
            engine.borrowed_inputs = engine._read_only_inputs()
        assert set(borrowed) == set(copied)
        for name in copied:
            np.testing.assert_array_equal(borrowed[name], copied[name])


def test_inputs_feeding_split_or_slice_layers_are_copied():
    # PatchmatchNet's reference image and cameras go to Split/Slice layers, whose outputs share the blob with later
    # layers that may work in place (running them on numpy memory crashed): only the source images are borrowed
    engine = edgecv.load("patchmatchnet_640x416_n5", engine="ncnn", threads=1).engine
    assert engine.borrowed_inputs == {"img1", "img2", "img3", "img4"}
    assert {"img0", "rel_proj", "depth_min", "depth_max"} <= set(engine.input_names)

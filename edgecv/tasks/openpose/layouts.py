"""COCO-18 keypoints and OpenPose limb tables (data passed to the C++ grouping).

A limb table row is ``[part_a, part_b, paf_x, paf_y, seed]``: the limb joins part_a -> part_b, its
PAF is the (paf_x, paf_y) channel pair of the PAF tensor, and only seed limbs may start a person
(the two redundant ear-shoulder limbs may not, as in OpenPose).
"""

from __future__ import annotations

import numpy as np

COCO18_NAMES = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
                "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
                "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear")

#: Intel Open Model Zoo human-pose-estimation-0001 (lightweight OpenPose): outputs `heatmaps` (19)
#: and `pafs` (38); table from ../shared/README.md.
LIGHTWEIGHT_LIMBS = np.array([
    [1, 2, 12, 13, 1], [1, 5, 20, 21, 1], [2, 3, 14, 15, 1], [3, 4, 16, 17, 1], [5, 6, 22, 23, 1],
    [6, 7, 24, 25, 1], [1, 8, 0, 1, 1], [8, 9, 2, 3, 1], [9, 10, 4, 5, 1], [1, 11, 6, 7, 1],
    [11, 12, 8, 9, 1], [12, 13, 10, 11, 1], [1, 0, 28, 29, 1], [0, 14, 30, 31, 1], [14, 16, 34, 35, 1],
    [0, 15, 32, 33, 1], [15, 17, 36, 37, 1], [2, 16, 18, 19, 0], [5, 17, 26, 27, 0],
], dtype=np.int32)

#: CMU OpenPose COCO (one 57-channel output: 18 parts + background, then 38 PAF channels):
#: `posePairs` with `mapIdx` minus 19, i.e. indices into the PAF part after the split. It equals the
#: lightweight table except for the two ear-shoulder limbs, which join the opposite ears.
CMU_LIMBS = LIGHTWEIGHT_LIMBS.copy()
CMU_LIMBS[17, :2] = (2, 17)
CMU_LIMBS[18, :2] = (5, 16)

LAYOUTS = {"lightweight": LIGHTWEIGHT_LIMBS, "cmu": CMU_LIMBS}

#: Bones drawn by Poses.draw(): the seed limbs.
SKELETON = tuple((int(a), int(b)) for a, b, _, _, seed in LIGHTWEIGHT_LIMBS if seed)

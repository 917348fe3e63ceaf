"""edgecv eval: the protocols on crafted cases with known answers, against the reference implementations (the official
WIDER FACE evaluation, transcribed here loop for loop; pycocotools on edgecv's own predictions), the official WIDER
ground-truth files, and the small real sets in ../shared/data/eval on every engine."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest

from conftest import ENGINES, SHARED, run_python
from edgecv.errors import InvalidInputError
from edgecv.evaluate import evaluate, load_dataset
from edgecv.evaluate.datasets import read_widerface_mat
from edgecv.evaluate.depth import depth_metrics, depth_sums
from edgecv.evaluate.widerface import THRESHOLDS, evaluate_boxes

EVAL = SHARED / "data" / "eval"


# -- the WIDER FACE protocol ------------------------------------------------------------------------------------------
def _official(preds, gts, keeps, iou_thresh=0.5):
    """The official evaluation, step for step (eval_tools/evaluation.m and its Python ports): xywh boxes, +1 IoU,
    scores normalised over the dataset, 1000 thresholds, VOC AP with MATLAB's NaN-skipping max."""
    low = min(p[:, 4].min() for p in preds if len(p))
    high = max(p[:, 4].max() for p in preds if len(p))
    preds = [np.c_[p[:, :4], (p[:, 4] - low) / (high - low)] if len(p) else p for p in preds]
    pr = np.zeros((THRESHOLDS, 2))
    count = 0
    for pred, gt, keep in zip(preds, gts, keeps):
        count += int(keep.sum())
        if len(gt) == 0 or len(pred) == 0:
            continue
        pred = pred[np.argsort(-pred[:, 4], kind="stable")]
        recall_list = np.zeros(len(gt))
        proposal = np.ones(len(pred))
        pred_recall = np.zeros(len(pred))
        for h in range(len(pred)):
            best, best_iou = -1, 0.0
            for k in range(len(gt)):
                px1, py1, pw, ph = pred[h, :4]
                gx1, gy1, gw, gh = gt[k]
                iw = min(px1 + pw, gx1 + gw) - max(px1, gx1) + 1
                ih = min(py1 + ph, gy1 + gh) - max(py1, gy1) + 1
                if iw > 0 and ih > 0:
                    ov = iw * ih / ((pw + 1) * (ph + 1) + (gw + 1) * (gh + 1) - iw * ih)
                    if ov > best_iou:
                        best, best_iou = k, ov
            if best >= 0 and best_iou >= iou_thresh:
                if not keep[best]:
                    recall_list[best] = -1
                    proposal[h] = -1
                elif recall_list[best] == 0:
                    recall_list[best] = 1
            pred_recall[h] = (recall_list == 1).sum()
        for t in range(THRESHOLDS):
            thresh = 1 - (t + 1) / THRESHOLDS
            idx = np.where(pred[:, 4] >= thresh)[0]
            if len(idx):
                r = idx[-1]
                pr[t, 0] += (proposal[: r + 1] == 1).sum()
                pr[t, 1] += pred_recall[r]
    with np.errstate(invalid="ignore", divide="ignore"):
        precision, recall = pr[:, 1] / pr[:, 0], pr[:, 1] / count
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.concatenate(([0.0], precision, [0.0]))
    for i in range(len(mpre) - 1, 0, -1):
        mpre[i - 1] = np.fmax(mpre[i - 1], mpre[i])  # MATLAB's max skips NaN
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def _xyxy(xywh):
    b = np.asarray(xywh, np.float64).reshape(-1, 4)
    return np.c_[b[:, :2], b[:, :2] + b[:, 2:]]


def _ap(preds_xywhs, gts_xywh, keeps):
    preds = [(_xyxy(p[:, :4]), p[:, 4]) if len(p) else (np.zeros((0, 4)), np.zeros(0)) for p in preds_xywhs]
    curves = evaluate_boxes(preds, [_xyxy(g) for g in gts_xywh], [{"s": k} for k in keeps], ["s"])
    return curves["s"].ap


GT = [np.array([[10, 10, 40, 40], [100, 100, 60, 60], [200, 50, 30, 30]], float), np.array([[5, 5, 80, 80]], float)]
ALL = [np.ones(3, bool), np.ones(1, bool)]


def test_perfect_predictions_give_ap_1():
    preds = [np.c_[g, np.linspace(0.9, 0.5, len(g))] for g in GT]
    assert _ap(preds, GT, ALL) == pytest.approx(1.0, abs=1e-9)


def test_shifted_predictions_give_ap_0():
    preds = [np.c_[g + [g[0, 2], 0, 0, 0], np.full(len(g), 0.9)] for g in GT]  # moved one box width: IoU 0
    assert _ap(preds, GT, ALL) == 0.0


def test_duplicates_are_false_positives_and_half_recall_halves_ap():
    dup = [np.r_[np.c_[GT[0], [0.9, 0.8, 0.7]], np.c_[GT[0], [0.6, 0.5, 0.4]]], np.c_[GT[1], [0.95]]]
    assert _ap(dup, GT, ALL) == pytest.approx(1.0, abs=1e-9)  # duplicates below every true one: AP unchanged
    worst = [np.r_[np.c_[GT[0], [0.4, 0.3, 0.2]], np.c_[GT[0], [0.9, 0.8, 0.7]]], np.zeros((0, 5))]
    half = [np.c_[GT[0][:2], [0.9, 0.8]], np.zeros((0, 5))]  # 2 of 4 faces, no false positive
    assert _ap(half, GT, ALL) == pytest.approx(0.5, abs=1e-9)
    assert _ap(worst, GT, ALL) == pytest.approx(_official(worst, GT, ALL), abs=1e-12)


def test_ignored_faces_are_neither_right_nor_wrong():
    keep = [np.array([True, True, False]), np.ones(1, bool)]
    preds = [np.c_[GT[0], [0.9, 0.8, 0.95]], np.c_[GT[1], [0.7]]]  # the best-scoring one is on the ignored face
    assert _ap(preds, GT, keep) == pytest.approx(1.0, abs=1e-9)
    assert _ap([np.c_[GT[0][2:], [0.9]], np.zeros((0, 5))], GT, keep) == 0.0  # only the ignored face: nothing found


def test_empty_images_count_their_faces_and_skip_their_predictions():
    gts = GT + [np.zeros((0, 4))]
    keeps = ALL + [np.zeros(0, bool)]
    preds = [np.c_[GT[0], [0.9, 0.8, 0.7]], np.zeros((0, 5)), np.array([[0, 0, 20, 20, 0.99]])]
    # the face of image 1 is never found (recall 3/4); the official code skips the prediction on the empty image 2
    assert _ap(preds, gts, keeps) == pytest.approx(0.75, abs=1e-9)
    assert _ap(preds, gts, keeps) == pytest.approx(_official(preds, gts, keeps), abs=1e-12)


def test_matches_the_official_evaluation_on_random_detections():
    rng = np.random.default_rng(7)
    gts, keeps, preds = [], [], []
    for _ in range(40):
        n = int(rng.integers(0, 12))
        g = np.c_[rng.uniform(0, 400, (n, 2)), rng.uniform(4, 80, (n, 2))]
        gts.append(g)
        keeps.append(rng.random(n) > 0.3)
        m = int(rng.integers(0, 15))
        jitter = g[rng.integers(0, max(n, 1), m)] + rng.normal(0, 6, (m, 4)) if n else rng.uniform(0, 400, (m, 4))
        preds.append(np.c_[np.abs(jitter), rng.random(m)] if m else np.zeros((0, 5)))
    assert _ap(preds, gts, keeps) == pytest.approx(_official(preds, gts, keeps), abs=1e-12)


def test_official_widerface_ground_truth_files():
    """The real val .mat files: 3,226 images, 39,708 faces; easy / medium / hard keep 7,211 / 13,319 / 31,958."""
    samples = read_widerface_mat(EVAL / "widerface_val_labels")
    assert len(samples) == 3226 and len({s.id.split("/")[0] for s in samples}) == 61
    assert sum(len(s.boxes) for s in samples) == 39708
    counts = {k: sum(int(s.keep[k].sum()) for s in samples) for k in ("easy", "medium", "hard")}
    assert counts == {"easy": 7211, "medium": 13319, "hard": 31958}
    first = samples[0]
    assert first.id == "0--Parade/0_Parade_marchingband_1_465" and first.boxes[0].tolist() == [345, 211, 349, 215]


def test_widerface_download_layout_is_found(tmp_path):
    """WIDER_val/images/<event>/*.jpg beside wider_face_split/ (the official downloads unpacked side by side)."""
    (tmp_path / "WIDER_val" / "images" / "0--Parade").mkdir(parents=True)
    (tmp_path / "wider_face_split").mkdir()
    for f in (EVAL / "widerface_val_labels").glob("*.mat"):
        (tmp_path / "wider_face_split" / f.name).symlink_to(f)
    dataset = load_dataset(tmp_path / "WIDER_val")  # format and labels told from the layout
    assert dataset.format == "widerface" and dataset.subsets == ("easy", "medium", "hard")
    assert dataset.describe()["faces"] == {"easy": 7211, "medium": 13319, "hard": 31958}
    assert dataset.samples[0].path == tmp_path / "WIDER_val" / "images" / "0--Parade" / \
        "0_Parade_marchingband_1_465.jpg"


def test_widerface_txt_layout_and_damaged_files(tmp_path):
    txt = tmp_path / "wider_face_val_bbx_gt.txt"
    txt.write_text("0--Parade/a.jpg\n2\n10 10 40 40 0 0 0 0 0 0 \n50 50 5 5 0 0 0 1 0 0 \n"
                   "1--Handshaking/b.jpg\n0\n0 0 0 0 0 0 0 0 0 0 \n")
    dataset = load_dataset(tmp_path, "widerface")
    assert [s.id for s in dataset.samples] == ["0--Parade/a", "1--Handshaking/b"]
    assert dataset.samples[0].keep["all"].tolist() == [True, False] and len(dataset.samples[1].boxes) == 0
    (tmp_path / "wider_face_val_bbx_gt.txt").write_text("0--Parade/a.jpg\ntwo\n")
    with pytest.raises(InvalidInputError, match="face count"):
        load_dataset(tmp_path, "widerface")
    bad = tmp_path / "mat"
    bad.mkdir()
    (bad / "wider_face_val.mat").write_bytes(b"MATLAB 5.0 but not really" * 10)
    with pytest.raises(InvalidInputError, match="not a readable MATLAB file"):
        load_dataset(bad, "widerface")


# -- COCO and VOC faces against pycocotools ----------------------------------------------------------------------------
def _pycocotools_ap(gt_doc, results, iou_type):
    import contextlib
    import io

    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = gt_doc
        gt.createIndex()
        ev = COCOeval(gt, gt.loadRes(results), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats[0], ev.stats[1]


def test_coco_keypoints_equal_pycocotools_on_the_predictions_written(tmp_path):
    out = run_python("-m", "edgecv", "eval", "lightweight_openpose_hpe0001", "--data", str(EVAL / "coco_person_mini"),
                     "--engine", ",".join(ENGINES), "--predictions", str(tmp_path / "people.json"), "--json",
                     "--no-cache", timeout=600)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    gt = json.loads((EVAL / "coco_person_mini" / "person_keypoints.json").read_text())
    assert [r["config"] for r in rows] == [f"{e} fp32" for e in ENGINES]
    for row in rows:
        results = json.loads((tmp_path / f"people.{row['config'].replace(' ', '_')}.json").read_text())
        assert all(len(r["keypoints"]) == 51 for r in results)  # COCO-17, not edgecv's 18
        ap, ap50 = _pycocotools_ap(gt, results, "keypoints")
        assert row["AP"] == pytest.approx(ap, abs=1e-12) and row["AP50"] == pytest.approx(ap50, abs=1e-12)
        assert row["AP"] > 0.5, row  # OKS AP of lightweight OpenPose on 14 COCO people (published: ~0.40 on val)
        assert abs(row["delta_AP"]) < 0.02


def _voc_as_coco(xml_path):
    """dlib's imglab XML as a COCO document, converted independently of edgecv's parser."""
    images, annotations = [], []
    for i, image in enumerate(ElementTree.parse(xml_path).getroot().iter("image"), start=1):
        images.append({"id": i, "file_name": image.get("file")})
        for box in image.iter("box"):
            x, y, w, h = (float(box.get(k)) for k in ("left", "top", "width", "height"))
            annotations.append({"id": len(annotations) + 1, "image_id": i, "category_id": 1, "bbox": [x, y, w, h],
                                "area": w * h, "iscrowd": 0})
    return {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "face"}]}


@pytest.mark.parametrize("model", ["yunet_n_640", "scrfd_2.5g_bnkps_640"])
def test_voc_faces_equal_pycocotools_on_the_predictions_written(model, tmp_path):
    report = evaluate(model, EVAL / "faces_voc_mini", engines=ENGINES, predictions=tmp_path / "faces.json",
                      cache=False)
    assert report.dataset["faces"] == {"all": 18}
    gt = _voc_as_coco(EVAL / "faces_voc_mini" / "training.xml")
    for row in report.rows:
        results = json.loads((tmp_path / f"faces.{row.label.replace(' ', '_')}.json").read_text())
        ap, ap50 = _pycocotools_ap(gt, results, "bbox")
        assert row.metrics["AP"] == pytest.approx(ap, abs=1e-12)
        assert row.metrics["AP50"] == pytest.approx(ap50, abs=1e-12)
        assert row.metrics["AP50"] >= 0.9, row  # 18 clear faces
        assert abs(row.delta["AP50"]) < 0.02


def test_a_labelled_coco_box_file_is_read_too(tmp_path):
    (tmp_path / "images").mkdir()
    gt = _voc_as_coco(EVAL / "faces_voc_mini" / "training.xml")
    for im in gt["images"]:
        (tmp_path / "images" / im["file_name"]).write_bytes((EVAL / "faces_voc_mini" / "images" /
                                                             im["file_name"]).read_bytes())
    (tmp_path / "faces.json").write_text(json.dumps(gt))
    coco = evaluate("yunet_n_640", tmp_path, cache=False).rows[0].metrics
    voc = evaluate("yunet_n_640", EVAL / "faces_voc_mini", cache=False).rows[0].metrics
    assert coco == pytest.approx(voc, abs=1e-12)


def test_interrupted_runs_resume_from_the_cache_with_the_same_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("EDGECV_CACHE", str(tmp_path / "cache"))
    whole = evaluate("yunet_n_640", EVAL / "faces_voc_mini", cache=False).rows[0].metrics
    evaluate("yunet_n_640", EVAL / "faces_voc_mini", limit=2)  # "interrupted" after 2 of 4 images
    cached = list((tmp_path / "cache" / "eval").rglob("*.jsonl"))
    assert len(cached) == 1 and len(cached[0].read_text().splitlines()) == 2
    with open(cached[0], "a") as f:
        f.write('{"id": "2008_001009.jpg", "pred": {"boxes": [[1, 2')  # a line cut by a kill
    resumed = evaluate("yunet_n_640", EVAL / "faces_voc_mini").rows[0].metrics
    assert resumed == whole
    assert len([ln for ln in cached[0].read_text().splitlines() if ln.endswith("}")]) == 4


# -- depth ---------------------------------------------------------------------------------------------------------
def test_depth_metrics_on_known_maps():
    truth = np.array([[1.0, 2.0], [4.0, 0.0]], np.float32)  # one pixel without ground truth
    exact = depth_metrics([depth_sums(truth, truth)])
    assert exact == {"mae": 0.0, "abs_rel": 0.0, "delta_1.25": 1.0, "within_1pct": 1.0, "pixels": 3.0}
    pred = np.array([[1.005, 2.5], [0.0, 9.0]], np.float32)  # within 1 %, 25 % off, missing
    m = depth_metrics([depth_sums(pred, truth)])
    assert m["pixels"] == 3 and m["within_1pct"] == pytest.approx(1 / 3)
    assert m["delta_1.25"] == pytest.approx(1 / 3)  # 2.5/2 = 1.25 is not < 1.25
    assert m["mae"] == pytest.approx((0.005 + 0.5 + 4.0) / 3, rel=1e-5)
    assert m["abs_rel"] == pytest.approx((0.005 + 0.25 + 1.0) / 3, rel=1e-5)
    big = depth_sums(np.ones((4, 4), np.float32), np.ones((2, 2), np.float32))  # truth resized to the map
    assert big["pixels"] == 16


def test_mvs_against_ground_truth_depth_and_without(tmp_path):
    import shutil

    from conftest import cached_model

    scene = tmp_path / "scene"
    shutil.copytree(SHARED / "data" / "mvs_office_8view", scene)
    plain = evaluate("patchmatchnet_640x416_n5", scene, engines=["openvino"], limit=1, cache=False)
    # the default fusion filter (2 agreeing source views) keeps about a fifth of view 0
    assert plain.metric == "consistency" and 0.1 < plain.rows[0].metrics["consistency"] < 0.9
    (scene / "depths").mkdir()
    from edgecv.tasks.mvs import load_scene

    truth = cached_model("onnxruntime", "patchmatchnet_640x416_n5").detect(load_scene(scene), ref=0).depth
    np.save(scene / "depths" / "00000000.npy", truth)  # "ground truth": ONNX Runtime's own depth
    report = evaluate("patchmatchnet_640x416_n5", scene, engines=["openvino"], limit=1, cache=False)
    ref, ov = report.rows
    assert report.metric == "within_1pct" and ref.metrics["within_1pct"] == 1.0 and ref.metrics["mae"] == 0.0
    assert ov.metrics["within_1pct"] > 0.99 and ov.metrics["pixels"] == float((truth > 0).sum())


def test_bad_datasets_are_typed_errors(tmp_path):
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_dataset(tmp_path / "missing")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(InvalidInputError, match="not JSON"):
        load_dataset(tmp_path, "coco")
    (tmp_path / "x.json").write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "categories": [],
                                                 "annotations": [{"image_id": 2, "bbox": [0, 0, 1, 1]}]}))
    with pytest.raises(InvalidInputError, match="names no image"):
        load_dataset(tmp_path, "coco")
    with pytest.raises(InvalidInputError, match="is a mvs model"):
        evaluate("patchmatchnet_640x416_n5", EVAL / "faces_voc_mini")
    out = run_python("-m", "edgecv", "eval", "yunet_n_640", "--data", str(EVAL / "faces_voc_mini"),
                     "--precision", "int8")
    assert out.returncode == 2 and "run `edgecv quantize`" in out.stderr and "Traceback" not in out.stderr

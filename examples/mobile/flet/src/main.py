"""A one-screen Flet app: faces on a photo shipped in the app's assets, drawn, with the time they took.

Put the model's converted ncnn files (``yunet_n_640.param``, ``.bin``, ``.edgecv.json``, from
``edgecv fetch yunet_n_640 --engine ncnn``) and a photo (``photo.jpg``) in ``src/assets/``.
"""
import time
from pathlib import Path

import cv2
import flet as ft

import edgecv
import edgecv.native

ASSETS = Path(__file__).parent / "assets"


def main(page: ft.Page) -> None:
    page.title = "edgecv faces"
    try:
        model = edgecv.load(str(ASSETS / "yunet_n_640.param"), engine="ncnn", threads=2)
        image = edgecv.read_image(ASSETS / "photo.jpg")
        start = time.perf_counter()
        faces = model.detect(image)
        ms = (time.perf_counter() - start) * 1000
        jpeg = cv2.imencode(".jpg", faces.draw(image))[1].tobytes()
        page.add(ft.Text(f"{len(faces)} faces in {ms:.0f} ms ({edgecv.native.KIND} core)"), ft.Image(src=jpeg))
    except edgecv.EdgecvError as e:  # a missing asset or a bad file: say which
        page.add(ft.Text(f"edgecv: {e}"))


ft.run(main)

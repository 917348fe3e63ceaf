"""Screenshot of the edgecv serve web page (headless Chromium + Selenium) after uploading an image.

    EDGECV_MODELS=../shared/models python tools/serve_screenshot.py --image photo.jpg --out page.png

Without --image a synthetic picture (drawn with OpenCV) is uploaded: the committed docs/serve_page.png is made
that way, since the shared photos may not be redistributed.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path


def synthetic(path: Path) -> Path:
    import cv2
    import numpy as np

    h, w = 480, 720
    y, x = np.mgrid[0:h, 0:w]
    image = np.dstack([(x * 200 // w + 30), (y * 150 // h + 60), np.full((h, w), 140)]).astype(np.uint8)
    cv2.circle(image, (240, 250), 120, (70, 160, 230), -1)
    cv2.rectangle(image, (420, 140), (640, 380), (200, 120, 60), -1)
    cv2.putText(image, "edgecv", (250, 450), cv2.FONT_HERSHEY_SIMPLEX, 1.6, (255, 255, 255), 3)
    cv2.imwrite(str(path), image)
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="scrfd_2.5g_bnkps_640=faces")
    ap.add_argument("--image", type=Path)
    ap.add_argument("--out", type=Path, default=Path("serve_page.png"))
    args = ap.parse_args()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    work = Path(tempfile.mkdtemp())
    image = args.image or synthetic(work / "synthetic.jpg")
    proc = subprocess.Popen([sys.executable, "-m", "edgecv", "serve", args.model, "--port", "0"],
                            stderr=subprocess.PIPE, text=True, cwd=work)
    try:
        url = re.search(r"on (http://\S+)", proc.stderr.readline()).group(1)
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or shutil.which("chromium-browser")
        for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1200,760"):
            options.add_argument(arg)
        driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
        try:
            driver.get(url + "/")
            WebDriverWait(driver, 30).until(lambda d: len(Select(d.find_element(By.ID, "model")).options) >= 1)
            driver.find_element(By.ID, "file").send_keys(str(image.resolve()))
            WebDriverWait(driver, 60).until(lambda d: d.find_element(By.ID, "count").text != "")
            driver.save_screenshot(str(args.out))
        finally:
            driver.quit()
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(args.out)


if __name__ == "__main__":
    main()

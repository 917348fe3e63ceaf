"""edgecv serve under load, measured in one run: requests/s and p50/p99 latency at 1, 4 and 8 concurrent clients
against the in-process rate of the same work, and the server's RSS after 2,000 requests.

The server (``edgecv serve``, default settings: one request computed at a time with all engine threads) runs
in a child process on 127.0.0.1; clients post the JPEG bytes of a group photo. The in-process baselines,
with the same thread count: ``detect()`` on the decoded image, and decode + ``detect()`` (what the service
does per request). Overhead ratio = in-process decode+detect rate / service rate at 1 client.

    EDGECV_MODELS=../shared/models python benchmarks/bench_serve.py [--model NAME] [--requests 200] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np

SHARED = Path(os.environ.get("EDGECV_SHARED", Path(__file__).resolve().parents[2] / "shared"))
PHOTO = SHARED / "images" / "group_t1.jpg"


def start(model: str, threads: int):
    proc = subprocess.Popen([sys.executable, "-m", "edgecv", "serve", f"{model}=m", "--port", "0", "--threads",
                             str(threads), "--max-queue", "64"], stderr=subprocess.PIPE, text=True,
                            cwd=tempfile.gettempdir())
    line = proc.stderr.readline()
    url = re.search(r"on (http://\S+)", line)
    if not url:
        raise SystemExit(f"server did not start: {line}")
    threading.Thread(target=proc.stderr.read, daemon=True).start()
    return proc, url.group(1)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def load_level(url: str, data: bytes, clients: int, requests: int) -> dict:
    per_client = max(1, requests // clients)

    def client(_):
        times = []
        with httpx.Client(base_url=url, timeout=120) as c:
            for _ in range(per_client):
                t0 = time.perf_counter()
                r = c.post("/v1/models/m/detect", content=data, headers={"Content-Type": "image/jpeg"})
                times.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise SystemExit(f"HTTP {r.status_code}: {r.text[:200]}")
        return times

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        times = [t for ts in pool.map(client, range(clients)) for t in ts]
    wall = time.perf_counter() - start
    ms = np.array(times) * 1000
    return {"clients": clients, "requests": len(times), "rps": round(len(times) / wall, 2),
            "p50_ms": round(float(np.percentile(ms, 50)), 1), "p99_ms": round(float(np.percentile(ms, 99)), 1)}


def in_process(model: str, threads: int, data: bytes, n: int = 60) -> dict:
    import edgecv
    from edgecv.image import decode_image

    m = edgecv.load(model, threads=threads)
    image = decode_image(data)
    for _ in range(5):
        m.detect(image)
    t0 = time.perf_counter()
    for _ in range(n):
        m.detect(image)
    detect_rate = n / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    for _ in range(n):
        m.detect(decode_image(data))
    return {"detect_per_s": round(detect_rate, 2), "decode_detect_per_s": round(n / (time.perf_counter() - t0), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="scrfd_2.5g_bnkps_640")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--requests", type=int, default=200, help="requests per concurrency level")
    ap.add_argument("--total", type=int, default=2000, help="requests before the RSS reading")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    data = PHOTO.read_bytes()
    base = in_process(args.model, args.threads, data)
    print(f"in process ({args.threads} threads): detect {base['detect_per_s']}/s, decode+detect "
          f"{base['decode_detect_per_s']}/s", flush=True)
    proc, url = start(args.model, args.threads)
    try:
        load_level(url, data, 1, 10)  # warm-up
        rss_start = rss_mb(proc.pid)
        levels = []
        sent = 10
        for clients in (1, 4, 8):
            r = load_level(url, data, clients, args.requests)
            sent += r["requests"]
            r["overhead_vs_decode_detect"] = round(base["decode_detect_per_s"] / r["rps"], 3)
            levels.append(r)
            print(f"{clients} client(s): {r['rps']} req/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, "
                  f"in-process decode+detect / service = {r['overhead_vs_decode_detect']}", flush=True)
        rss_mid = rss_mb(proc.pid)
        if args.total > sent:
            load_level(url, data, 8, args.total - sent)
            sent = args.total
        rss_end = rss_mb(proc.pid)
        print(f"server RSS: {rss_start:.0f} MB after warm-up, {rss_mid:.0f} MB after {10 + 3 * args.requests}, "
              f"{rss_end:.0f} MB after {sent} requests", flush=True)
    finally:
        proc.terminate()
        proc.wait(30)
    doc = {"model": args.model, "threads": args.threads, "in_process": base, "levels": levels,
           "rss_mb": {"warm": round(rss_start, 1), "mid": round(rss_mid, 1), "end": round(rss_end, 1)},
           "requests": sent}
    if args.json:
        args.json.write_text(json.dumps(doc, indent=2) + "\n")


if __name__ == "__main__":
    main()

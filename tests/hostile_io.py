"""What faces the outside, attacked: memory bombs, slow and idle sockets, damaged files, odd names, races.

    python tests/hostile_io.py --list              # the cases
    python tests/hostile_io.py CASE [CASE ...]     # run cases, one JSON line each
    python tests/hostile_io.py --all --isolated    # every case in its own process (the report in the README)

Every case runs in a process of its own (``--isolated`` here; tests/test_hostile_io.py does the same) and
prints ``{"case", "ok", "outcome", "seconds", "peak_rss_mb", "detail"}``: ``outcome`` is what a user sees (an HTTP
status, an exit code, an error type), ``peak_rss_mb`` the largest resident set of the processes involved (this
one, its children, and the server for serve cases), ``ok`` whether the behaviour is the promised one. Run it with
``PYTHONPATH`` pointing at another edgecv install to measure that one (``HOSTILE_OLD=1`` leaves out the server
flags older versions lack).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import select
import shutil
import socket
import struct
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
import zlib
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

SHARED = Path(os.environ.get("EDGECV_SHARED", Path(__file__).resolve().parents[2] / "shared")).resolve()
REPO = Path(__file__).resolve().parents[1]
FAST = "scrfd_500m_bnkps_640"
MVS = "patchmatchnet_640x416_n5"
PHOTO = SHARED / "images" / "street_6.jpg"
SCENE = SHARED / "data" / "mvs_office_8view"
OLD = os.environ.get("HOSTILE_OLD") == "1"
#: The server's timeouts in these cases (the defaults are 10 s head, 60 s body).
HEADER_TIMEOUT, BODY_TIMEOUT = 2.0, 3.0

CASES: Dict[str, Tuple[Callable[[Path], Dict[str, Any]], float, float]] = {}


def case(name: str, rss_mb: float = 600, seconds: float = 120):
    """Register a case: its function gets a scratch folder and returns {"ok", "outcome", "detail"?}; ``rss_mb`` and
    ``seconds`` are the limits the test holds it to."""
    def register(fn):
        CASES[name] = (fn, rss_mb, seconds)
        return fn
    return register


# -- hostile files -----------------------------------------------------------------------------------------
def jpeg_declaring(width: int, height: int) -> bytes:
    """A tiny real JPEG whose SOF header is edited to declare ``width`` x ``height``."""
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.full((8, 8, 3), 128, np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 50])
    data = bytearray(buf.tobytes())
    at = data.find(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_bomb(side: int) -> bytes:
    """A 1-bit grey PNG of ``side`` x ``side`` zero pixels, deflated (30000: ~110 KB for 900 MP)."""
    row = b"\0" * (1 + (side + 7) // 8)
    c = zlib.compressobj(9)
    parts = [c.compress(row) for _ in range(side)] + [c.flush()]
    return (b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0))
            + _png_chunk(b"IDAT", b"".join(parts)) + _png_chunk(b"IEND", b""))


def half_jpeg() -> bytes:
    """The first half of a real photo with an end marker appended: decodes "successfully", half grey."""
    data = PHOTO.read_bytes()
    return data[: len(data) // 2] + b"\xff\xd9"


class _Zeros(io.RawIOBase):
    def __init__(self, n: int) -> None:
        self.left = n

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        n = min(len(b), self.left)
        b[:n] = bytes(n)
        self.left -= n
        return n


BOMB_BYTES = 1200 << 20


def zip_bomb(path: Path, good: Optional[Path] = None, lie: bool = False) -> None:
    """A zip with ``bomb.png`` inflating to 1.2 GB of zeros (``lie``: its headers declare 1000 bytes)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        if good is not None:
            z.write(good, "good.jpg")
        info = zipfile.ZipInfo("bomb.png")
        info.compress_type = zipfile.ZIP_DEFLATED
        with z.open(info, "w", force_zip64=True) as f:
            chunk = bytes(1 << 20)
            for _ in range(BOMB_BYTES >> 20):
                f.write(chunk)
    if lie:  # rewrite the declared sizes (local header and central directory) to 1000 bytes
        data = bytearray(path.read_bytes())
        for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
            pos = data.find(sig)
            while pos >= 0:
                name_len = struct.unpack("<H", data[pos + (26 if sig == b"PK\x03\x04" else 28):][:2])[0]
                name_at = pos + (30 if sig == b"PK\x03\x04" else 46)
                if bytes(data[name_at:name_at + name_len]) == b"bomb.png":
                    if struct.unpack("<I", data[pos + at:pos + at + 4])[0] != 0xFFFFFFFF:
                        data[pos + at:pos + at + 4] = struct.pack("<I", 1000)
                pos = data.find(sig, pos + 4)
        path.write_bytes(bytes(data))


def targz_bomb(path: Path, good: Optional[Path] = None) -> None:
    with tarfile.open(path, "w:gz", compresslevel=9) as t:
        if good is not None:
            t.add(good, arcname="good.jpg")
        info = tarfile.TarInfo("bomb.png")
        info.size = BOMB_BYTES
        t.addfile(info, _Zeros(BOMB_BYTES))


def truncated_tar_claiming(path: Path, size: int) -> None:
    """An uncompressed tar whose one member's header claims ``size`` bytes, cut after 10 kB of data."""
    info = tarfile.TarInfo("huge.jpg")
    info.size = size
    path.write_bytes(info.tobuf(format=tarfile.GNU_FORMAT) + PHOTO.read_bytes()[:10000])


# -- measuring ---------------------------------------------------------------------------------------------
def peak_rss_mb(pid: Optional[int] = None) -> float:
    """Peak resident set in MB: of ``pid`` (VmHWM), or of this process and its reaped children."""
    if pid is not None:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return 0.0
        return 0.0
    # This process's own peak from /proc (getrusage's ru_maxrss carries over the peak of the process that forked
    # it, pytest's, through exec); the children's from getrusage (they were forked from this small process).
    own = peak_rss_mb(os.getpid())
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return max(own, kids)


def children_rss_mb() -> float:
    """Peak resident set of the reaped child processes (the CLI runs and their workers), in MB: what a case that
    only starts edgecv in subprocesses measures, without the harness that built its hostile files."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def edgecv_command() -> List[str]:
    """The ``edgecv`` console script as a user runs it (``python -m edgecv`` would put the working directory first
    on sys.path, which is not what a user from the repository root gets)."""
    script = shutil.which("edgecv") or str(Path(sys.executable).with_name("edgecv"))
    return [script] if Path(script).is_file() else [sys.executable, "-m", "edgecv"]


def edgecv_cli(*args: str, cwd: Optional[Path] = None, env: Optional[Dict[str, str]] = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([*edgecv_command(), *args], capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or tempfile.gettempdir(), env={**os.environ, **(env or {})})


def one_line_error(proc: subprocess.CompletedProcess) -> bool:
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    return proc.returncode == 2 and len(lines) == 1 and "unexpected error" not in proc.stderr \
        and "Traceback" not in proc.stderr


class Server:
    """``edgecv serve`` in a child process on 127.0.0.1 (any free port)."""

    def __init__(self, *args: str, verbose: bool = False) -> None:
        flags = [] if OLD else ["--header-timeout", str(HEADER_TIMEOUT), "--body-timeout", str(BODY_TIMEOUT)]
        self.cwd = tempfile.mkdtemp()
        cmd = [sys.executable, "-m", "edgecv", *(["-v"] if verbose else []), "serve", *args, "--port", "0",
               "--threads", "1", *flags]
        self.proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=self.cwd)
        self.log: List[str] = []
        deadline = time.monotonic() + 180
        line = ""
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            self.log.append(line)
            if "serving" in line or not line:
                break
        match = re.search(r"on http://([\d.]+):(\d+)", line)
        if not match:
            raise RuntimeError(f"the server did not start: {''.join(self.log)[-2000:]}")
        self.host, self.port = match.group(1), int(match.group(2))
        self.url = f"http://{self.host}:{self.port}"
        threading.Thread(target=lambda: self.log.extend(self.proc.stderr), daemon=True).start()

    def request(self, method: str, path: str, body: bytes = b"", headers: Optional[Dict[str, str]] = None,
                source: str = "127.0.0.2", timeout: float = 30) -> Tuple[int, bytes, float]:
        """(status or a negative errno-like code, body, seconds) over a fresh connection from ``source``."""
        import http.client

        t0 = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout, source_address=(source, 0))
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read(), time.perf_counter() - t0
        except (OSError, http.client.HTTPException) as exc:
            return -1, repr(exc).encode(), time.perf_counter() - t0
        finally:
            conn.close()

    def stop(self) -> float:
        """Stop it; its peak RSS in MB."""
        rss = peak_rss_mb(self.proc.pid)
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.cwd, ignore_errors=True)
        return rss


@contextlib.contextmanager
def served(*args: str, verbose: bool = False) -> Iterator[Server]:
    server = Server(*args, verbose=verbose)
    try:
        yield server
    finally:
        server.rss = server.stop()  # type: ignore[attr-defined]


def _faces_server(**kw) -> Any:
    return served(f"{FAST}=faces", **kw)


def _post_image(server: Server, data: bytes, query: str = "") -> Tuple[int, bytes, float]:
    return server.request("POST", f"/v1/models/faces/detect{query}", data, {"Content-Type": "image/jpeg"})


def _serve_result(server: Server, status: int, seconds: float, want: int, body: bytes = b"") -> Dict[str, Any]:
    return {"ok": status == want, "outcome": f"HTTP {status}", "seconds": round(seconds, 2),
            "detail": body[:160].decode("utf-8", "replace"), "_server": server}


# -- memory bombs -----------------------------------------------------------------------------------------
@case("jpeg-bomb-library")
def _(tmp: Path) -> Dict[str, Any]:
    import edgecv

    path = tmp / "bomb.jpg"
    path.write_bytes(jpeg_declaring(30000, 30000))
    model = edgecv.load(FAST, threads=1)
    try:
        model.detect(str(path))
        return {"ok": False, "outcome": "decoded", "detail": f"{path.stat().st_size} bytes"}
    except Exception as exc:
        return {"ok": type(exc).__name__ == "ImageTooLargeError", "outcome": type(exc).__name__,
                "detail": f"{path.stat().st_size} bytes: {str(exc)[:120]}"}


@case("jpeg-bomb-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server() as s:
        status, body, seconds = _post_image(s, jpeg_declaring(30000, 30000))
    return _serve_result(s, status, seconds, 413, body)


@case("png-1bit-bomb-serve")
def _(tmp: Path) -> Dict[str, Any]:
    data = png_bomb(30000)
    with _faces_server() as s:
        status, body, seconds = s.request("POST", "/v1/models/faces/detect", data, {"Content-Type": "image/png"})
    return _serve_result(s, status, seconds, 413, body)


@case("png-50000-serve")
def _(tmp: Path) -> Dict[str, Any]:
    data = png_bomb(50000)
    with _faces_server() as s:
        status, body, seconds = s.request("POST", "/v1/models/faces/detect", data, {"Content-Type": "image/png"})
    return _serve_result(s, status, seconds, 413, body)


@case("png-50000-cli")
def _(tmp: Path) -> Dict[str, Any]:
    path = tmp / "bomb.png"
    path.write_bytes(png_bomb(50000))
    t0 = time.perf_counter()
    proc = edgecv_cli("detect", str(path), "--model", FAST, "--threads", "1")
    return {"ok": one_line_error(proc) and "MP" in proc.stderr,
            "outcome": f"exit {proc.returncode}", "seconds": round(time.perf_counter() - t0, 2),
            "detail": proc.stderr.strip()[-200:]}


@case("png-50000-mvs-view")
def _(tmp: Path) -> Dict[str, Any]:
    cams = sorted((SCENE / "cams").glob("*_cam.txt"))[:5]
    files = [("view", ("bomb.png", png_bomb(50000), "image/png"))] + [
        ("view", (f"{i}.jpg", (SCENE / "images" / f"{i:08d}.jpg").read_bytes(), "image/jpeg")) for i in range(1, 5)]
    files += [("cam", (c.name, c.read_bytes(), "text/plain")) for c in cams]
    with served(f"{MVS}=depth") as s:
        status, body, seconds = _multipart(s, "/v1/models/depth/detect", files)
    return _serve_result(s, status, seconds, 413, body)


def _multipart(server: Server, path: str, files: List[Tuple[str, Tuple[str, bytes, str]]]) -> Tuple[int, bytes, float]:
    boundary = "edgecvhostile"
    parts = []
    for field, (name, data, ctype) in files:
        parts.append(f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{name}\"\r\n"
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    body = b"".join(parts) + f"--{boundary}--\r\n".encode()
    return server.request("POST", path, body, {"Content-Type": f"multipart/form-data; boundary={boundary}"},
                          timeout=120)


def _batch(tmp: Path, *inputs: Path, extra: Tuple[str, ...] = (), cwd: Optional[Path] = None) -> Tuple[Any, List[dict]]:
    out = tmp / "out"
    proc = edgecv_cli("batch", *map(str, inputs), "--model", FAST, "--out", str(out), "--workers", "1",
                      "--threads-per-worker", "1", *extra, cwd=cwd, timeout=600)
    rows: List[dict] = []
    _batch.rss = children_rss_mb()  # type: ignore[attr-defined]
    if any(out.glob("part-*.parquet")):
        import pyarrow.parquet as pq

        rows = pq.read_table(str(out)).to_pylist() if out.exists() else []
    return proc, rows


def _rows_outcome(proc, rows: List[dict]) -> str:
    errors = sorted({(r["error"] or "").split(":")[0] for r in rows if not r["ok"]})
    return f"exit {proc.returncode}, {len(rows)} rows ({sum(r['ok'] for r in rows)} ok" + \
        (f"; {', '.join(errors)}" if errors else "") + ")"


@case("zip-bomb-batch")
def _(tmp: Path) -> Dict[str, Any]:
    archive = tmp / "bomb.zip"
    zip_bomb(archive, good=PHOTO)
    t0 = time.perf_counter()
    proc, rows = _batch(tmp, archive)
    bomb = [r for r in rows if r["member"] == "bomb.png"]
    good = [r for r in rows if r["member"] == "good.jpg"]
    return {"ok": proc.returncode == 0 and len(rows) == 2 and bomb and not bomb[0]["ok"] and good and good[0]["ok"],
            "outcome": _rows_outcome(proc, rows), "seconds": round(time.perf_counter() - t0, 2), "_rss": _batch.rss,
            "detail": f"{archive.stat().st_size / 1e6:.1f} MB zip: " + (bomb[0]["error"][:140] if bomb else
                                                                          proc.stderr[-200:])}


@case("zip-lying-sizes-batch")
def _(tmp: Path) -> Dict[str, Any]:
    archive = tmp / "liar.zip"
    zip_bomb(archive, good=PHOTO, lie=True)
    t0 = time.perf_counter()
    proc, rows = _batch(tmp, archive)
    bomb = [r for r in rows if r["member"] == "bomb.png"]
    return {"ok": proc.returncode == 0 and len(rows) == 2 and bomb and not bomb[0]["ok"],
            "outcome": _rows_outcome(proc, rows), "seconds": round(time.perf_counter() - t0, 2), "_rss": _batch.rss,
            "detail": bomb[0]["error"][:160] if bomb else proc.stderr[-200:]}


@case("targz-bomb-batch")
def _(tmp: Path) -> Dict[str, Any]:
    archive = tmp / "bomb.tar.gz"
    targz_bomb(archive, good=PHOTO)
    t0 = time.perf_counter()
    proc, rows = _batch(tmp, archive)
    good = [r for r in rows if r["member"] == "good.jpg"]
    failed = [r for r in rows if not r["ok"]]
    # The bomb's own row, and one for the rest of the archive (reaching it means inflating the bomb).
    return {"ok": proc.returncode == 0 and good and good[0]["ok"] and len(failed) == 2,
            "outcome": _rows_outcome(proc, rows), "seconds": round(time.perf_counter() - t0, 2), "_rss": _batch.rss,
            "detail": f"{archive.stat().st_size / 1e6:.1f} MB tar.gz: " + (failed[0]["error"][:140] if failed else
                                                                             proc.stderr[-200:])}


@case("tar-member-claims-1tib")
def _(tmp: Path) -> Dict[str, Any]:
    archive = tmp / "cut.tar"
    truncated_tar_claiming(archive, 1 << 40)
    t0 = time.perf_counter()
    proc, rows = _batch(tmp, archive)
    return {"ok": proc.returncode == 0 and len(rows) == 1 and not rows[0]["ok"], "outcome": _rows_outcome(proc, rows),
            "_rss": _batch.rss,
            "seconds": round(time.perf_counter() - t0, 2), "detail": (rows[0]["error"] or "")[:160] if rows else
            proc.stdout.strip()[-200:]}


# -- denial of service on serve ---------------------------------------------------------------------------
def _open_sockets(server: Server, count: int, sources: List[str]) -> List[socket.socket]:
    out = []
    for i in range(count):
        s = socket.socket()
        s.bind((sources[i % len(sources)], 0))
        s.settimeout(5)
        try:
            s.connect((server.host, server.port))
        except OSError:
            s.close()
            continue
        out.append(s)
    return out


def _closed(sockets: List[socket.socket]) -> int:
    """How many of ``sockets`` the server has closed (EOF or reset)."""
    n = 0
    for s in sockets:
        s.setblocking(False)
        try:
            n += s.recv(1024) == b""
        except BlockingIOError:
            pass
        except OSError:
            n += 1
    return n


ATTACKERS = [f"127.0.0.{i}" for i in range(10, 20)]


@case("idle-connections-serve", seconds=90)
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server() as s:
        sockets = _open_sockets(s, 130, ATTACKERS)
        time.sleep(0.5)
        status, body, seconds = s.request("GET", "/healthz", timeout=5)
        t0 = time.monotonic()
        while _closed(sockets) < len(sockets) and time.monotonic() - t0 < HEADER_TIMEOUT + 10:
            time.sleep(0.25)
        closed, waited = _closed(sockets), time.monotonic() - t0
        one = _open_sockets(s, 70, ["127.0.0.3"])  # one client over its limit: the extra ones are refused at once
        time.sleep(0.5)
        refused_at_once = _closed(one)
        time.sleep(HEADER_TIMEOUT + 1)  # its idle ones time out: the address is served again
        after, _, _ = s.request("GET", "/healthz", source="127.0.0.3", timeout=5)
        for sock in sockets + one:
            sock.close()
    return {"ok": status == 200 and seconds < 1 and closed == len(sockets) and refused_at_once >= 6 and after == 200,
            "outcome": f"healthz HTTP {status} in {seconds:.2f} s with 130 idle sockets open",
            "seconds": round(waited, 1), "_server": s,
            "detail": f"{closed}/{len(sockets)} idle sockets closed by the server after {waited:.1f} s; "
                      f"{refused_at_once}/70 from one address refused at once; healthz from it after: {after}"}


@case("slow-headers-serve", seconds=90)
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server() as s:
        sockets = _open_sockets(s, 300, ATTACKERS)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        statuses, t0 = [], time.monotonic()
        while time.monotonic() - t0 < HEADER_TIMEOUT + 4:
            for sock in sockets:
                with contextlib.suppress(OSError):
                    sock.send(b"X-Slow: 1\r\n")
            statuses.append(s.request("GET", "/healthz", timeout=5)[0])
            time.sleep(1)
        closed = _closed(sockets)
        for sock in sockets:
            sock.close()
    return {"ok": set(statuses) == {200} and closed == len(sockets),
            "outcome": f"healthz {sorted(set(statuses))} during the attack", "seconds": round(time.monotonic() - t0, 1),
            "detail": f"{closed}/{len(sockets)} slow clients cut off within {HEADER_TIMEOUT + 4:g} s", "_server": s}


@case("chunked-forever-serve", seconds=60)
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server() as s:
        sock = socket.create_connection((s.host, s.port), source_address=("127.0.0.4", 0))
        sock.send(b"POST /v1/models/faces/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n")
        t0, answer = time.monotonic(), b""
        sock.setblocking(False)
        while time.monotonic() - t0 < BODY_TIMEOUT + 12:
            with contextlib.suppress(OSError):
                sock.send(b"10\r\n" + b"x" * 16 + b"\r\n")
            ready, _, _ = select.select([sock], [], [], 0.5)
            if ready:
                try:
                    chunk = sock.recv(4096)
                except OSError:
                    break
                if not chunk:
                    break
                answer += chunk
        seconds = time.monotonic() - t0
        sock.close()
    status = answer.split(b" ", 2)[1].decode() if answer.startswith(b"HTTP/") else "none"
    return {"ok": status == "408" and seconds < BODY_TIMEOUT + 3,
            "outcome": f"HTTP {status}, closed after {seconds:.1f} s",
            "seconds": round(seconds, 1), "detail": answer[:120].decode("latin-1"), "_server": s}


@case("mjpeg-viewers-leave", seconds=120)
def _(tmp: Path) -> Dict[str, Any]:
    import httpx

    video = SHARED / "video" / "pets_walk_480x360.avi"
    with served(f"{FAST}=faces", "--source", f"pets@faces={video}") as s:
        for _ in range(6):
            with httpx.Client(base_url=s.url, timeout=60) as client:
                with client.stream("GET", "/v1/streams/pets.mjpg") as r:
                    got = 0
                    for chunk in r.iter_bytes():
                        got += len(chunk)
                        if got > 20000:
                            break
        t0 = time.monotonic()
        doc: Dict[str, Any] = {}
        while time.monotonic() - t0 < 10:
            doc = json.loads(s.request("GET", "/v1/models")[1])["streams"][0]
            if doc["viewers"] == 0:
                break
            time.sleep(0.25)
        frames_before = doc["frames"]
        time.sleep(3)
        frames_after = json.loads(s.request("GET", "/v1/models")[1])["streams"][0]["frames"]
    return {"ok": doc["viewers"] == 0 and frames_after - frames_before <= 2,
            "outcome": f"viewers {doc['viewers']} after 6 hung up", "seconds": round(time.monotonic() - t0, 1),
            "detail": f"frames inferred in the 3 s after: {frames_after - frames_before}", "_server": s}


# -- silent wrong answers ---------------------------------------------------------------------------------
@case("half-jpeg-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server() as s:
        status, body, seconds = _post_image(s, half_jpeg())
    return _serve_result(s, status, seconds, 400, body)


@case("half-jpeg-calibration")
def _(tmp: Path) -> Dict[str, Any]:
    from edgecv.convert.calibration import split_calibration
    from edgecv.tasks import TASKS

    folder = tmp / "calib"
    folder.mkdir()
    for p in sorted((SHARED / "images" / "calib_faces").glob("*.jpg"))[:24]:
        shutil.copy(p, folder / p.name)
    (folder / "zz_half.jpg").write_bytes(half_jpeg())
    try:
        split_calibration(TASKS["scrfd"], folder)
        return {"ok": False, "outcome": "calibrated on it"}
    except Exception as exc:
        return {"ok": type(exc).__name__ == "CalibrationError" and "zz_half.jpg" in str(exc),
                "outcome": type(exc).__name__, "detail": str(exc)[:200]}


@case("dead-source-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with served(f"{FAST}=faces", "--source", "dead@faces=rtsp://127.0.0.1:9/none",
                *([] if OLD else ["--timeout", "2"])) as s:
        status, body, seconds = s.request("GET", "/v1/streams/dead.mjpg", timeout=40)
    return _serve_result(s, status, seconds, 503, body)


def _views(cam_text: Optional[bytes] = None, same: bool = False) -> List[Tuple[str, Tuple[str, bytes, str]]]:
    refs = [0] * 5 if same else [0, 1, 2, 3, 4]
    files = [("view", (f"{i}.jpg", (SCENE / "images" / f"{i:08d}.jpg").read_bytes(), "image/jpeg")) for i in refs]
    for i in refs:
        text = (SCENE / "cams" / f"{i:08d}_cam.txt").read_bytes()
        if cam_text is not None:
            lines = text.decode().rstrip().splitlines()
            text = ("\n".join(lines[:-1] + [cam_text.decode()]) + "\n").encode()
        files.append(("cam", (f"{i}.txt", text, "text/plain")))
    return files


@case("mvs-same-view-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with served(f"{MVS}=depth") as s:
        status, body, seconds = _multipart(s, "/v1/models/depth/detect", _views(same=True))
    return _serve_result(s, status, seconds, 400, body)


@case("mvs-depth-1e308-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with served(f"{MVS}=depth") as s:
        status, body, seconds = _multipart(s, "/v1/models/depth/detect", _views(b"1e-308 1e308"))
    result = _serve_result(s, status, seconds, 400, body)
    result["ok"] = result["ok"] and seconds < 2
    return result


@case("head-pose-maybe-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server() as s:
        status, body, seconds = _post_image(s, PHOTO.read_bytes(), "?head_pose=maybe")
    return _serve_result(s, status, seconds, 400, body)


@case("hangup-mid-body-serve")
def _(tmp: Path) -> Dict[str, Any]:
    with _faces_server(verbose=True) as s:
        for _ in range(3):
            sock = socket.create_connection((s.host, s.port), source_address=("127.0.0.5", 0))
            sock.send(b"POST /v1/models/faces/detect HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\n"
                      b"Content-Length: 100000\r\n\r\n" + PHOTO.read_bytes()[:1000])
            time.sleep(0.3)
            sock.close()
        time.sleep(1.0)
        status, _, _ = s.request("GET", "/healthz")
    log = [ln for ln in s.log if ln.strip() and "serving" not in ln and "INFO edgecv.loading" not in ln
           and "INFO edgecv.trust" not in ln and "checked" not in ln]
    tracebacks = sum("Traceback" in ln for ln in log)
    hangups = [ln for ln in log if "hung up" in ln]
    return {"ok": status == 200 and tracebacks == 0 and len(hangups) == 3,
            "outcome": f"{len(hangups)} one-line disconnect logs, {tracebacks} tracebacks",
            "detail": (hangups[0] if hangups else "".join(log))[-200:].strip(), "_server": s}


# -- batch ------------------------------------------------------------------------------------------------
NOT_UTF8 = os.fsdecode(b"caf\xe9.jpg")


@case("non-utf8-names-batch", seconds=300)
def _(tmp: Path) -> Dict[str, Any]:
    folder = tmp / "in"
    folder.mkdir()
    shutil.copy(PHOTO, folder / "good.jpg")
    shutil.copy(PHOTO, folder / NOT_UTF8)
    archive = tmp / "names.tar"
    with tarfile.open(archive, "w", format=tarfile.GNU_FORMAT, encoding="utf-8", errors="surrogateescape") as t:
        t.add(PHOTO, arcname=NOT_UTF8)
        t.add(PHOTO, arcname="good.jpg")
    t0 = time.perf_counter()
    proc, rows = _batch(tmp, folder, archive)
    again = edgecv_cli("batch", str(folder), str(archive), "--model", FAST, "--out", str(tmp / "out"), "--workers", "1",
                       "--threads-per-worker", "1")
    escaped = [r for r in rows if "\\xe9" in (r["path"] + (r["member"] or ""))]
    return {"ok": proc.returncode == 0 and len(rows) == 4 and all(r["ok"] for r in rows) and len(escaped) == 2
            and again.returncode == 0 and len({r["key"] for r in rows}) == 4,
            "outcome": _rows_outcome(proc, rows), "seconds": round(time.perf_counter() - t0, 2), "_rss": _batch.rss,
            "detail": (f"rerun exit {again.returncode}; names: " + ", ".join(Path(r["path"]).name + (
                f":{r['member']}" if r["member"] else "") for r in escaped))[:200] if rows else proc.stderr[-200:]}


@case("duplicate-members-batch")
def _(tmp: Path) -> Dict[str, Any]:
    zpath, tpath = tmp / "dup.zip", tmp / "dup.tar"
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name, which is the point
        with zipfile.ZipFile(zpath, "w") as z:
            z.writestr("a.jpg", b"garbage, not an image")
            z.write(PHOTO, "a.jpg")
    with tarfile.open(tpath, "w") as t:
        info = tarfile.TarInfo("a.jpg")
        info.size = 7
        t.addfile(info, io.BytesIO(b"garbage"))
        t.add(PHOTO, arcname="a.jpg")
    proc, rows = _batch(tmp, zpath, tpath)
    by_archive = {}
    for r in rows:
        by_archive.setdefault(Path(r["path"]).suffix, []).append(r["ok"])
    return {"ok": proc.returncode == 0 and len(rows) == 4 and len({r["key"] for r in rows}) == 4
            and all(sorted(v) == [False, True] for v in by_archive.values()),
            "outcome": _rows_outcome(proc, rows) + f", {len({r['key'] for r in rows})} keys", "_rss": _batch.rss,
            "detail": json.dumps({k: v for k, v in by_archive.items()})}


@case("concurrent-runs-batch", seconds=300)
def _(tmp: Path) -> Dict[str, Any]:
    folder = tmp / "in"
    folder.mkdir()
    for i in range(12):
        shutil.copy(PHOTO, folder / f"p{i:02d}.jpg")
    out = tmp / "out"
    cmd = [sys.executable, "-m", "edgecv", "batch", str(folder), "--model", FAST, "--out", str(out), "--workers", "1",
           "--threads-per-worker", "1"]
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp)
             for _ in range(2)]
    results = [(p.wait(300), p.stderr.read()) for p in procs]
    import pyarrow.parquet as pq

    rows = pq.read_table(str(out)).to_pylist()
    codes = sorted(c for c, _ in results)
    return {"ok": codes == [0, 2] and len(rows) == 12 and any("another edgecv batch run" in e for _, e in results),
            "outcome": f"exits {codes}, {len(rows)} rows for 12 images",
            "detail": next((e.strip()[-160:] for c, e in results if c), "")}


@case("ray-from-repo-root-batch", rss_mb=4000, seconds=400)
def _(tmp: Path) -> Dict[str, Any]:
    t0 = time.perf_counter()
    proc, rows = _batch(tmp, PHOTO, extra=("--backend", "ray"), cwd=REPO)
    return {"ok": proc.returncode == 0 and len(rows) == 1 and rows[0]["ok"], "outcome": _rows_outcome(proc, rows),
            "seconds": round(time.perf_counter() - t0, 1), "_rss": _batch.rss, "detail": proc.stderr.strip()[-200:]}


# -- streams and CLI --------------------------------------------------------------------------------------
def _stream_error(source: Any, **kw) -> Dict[str, Any]:
    import edgecv

    model = edgecv.load(FAST, threads=1)
    t0 = time.perf_counter()
    try:
        with model.stream(source, **kw) as stream:
            for _ in stream:
                pass
        return {"ok": False, "outcome": "no error", "seconds": round(time.perf_counter() - t0, 2)}
    except Exception as exc:
        return {"ok": isinstance(exc, edgecv.EdgecvError), "outcome": type(exc).__name__,
                "seconds": round(time.perf_counter() - t0, 2), "detail": str(exc)[:160]}


@case("stream-camera-minus-1")
def _(tmp: Path) -> Dict[str, Any]:
    return _stream_error(-1)


@case("stream-camera-1e20")
def _(tmp: Path) -> Dict[str, Any]:
    return _stream_error(10 ** 20)


@case("cli-detect-superscript-two")
def _(tmp: Path) -> Dict[str, Any]:
    proc = edgecv_cli("detect", "\u00b2", "--model", FAST)
    return {"ok": one_line_error(proc), "outcome": f"exit {proc.returncode}", "detail": proc.stderr.strip()[-200:]}


@case("stalled-url-stream", seconds=60)
def _(tmp: Path) -> Dict[str, Any]:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: List[socket.socket] = []
    threading.Thread(target=lambda: held.extend(listener.accept()[0] for _ in range(8)), daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/live.mjpg"
    result = _stream_error(url) if OLD else _stream_error(url, timeout=2.0)
    result["ok"] = result["ok"] and result["outcome"] == "SourceError" and result["seconds"] < 5
    return result


# -- loading ----------------------------------------------------------------------------------------------
@case("relative-model-path-fresh-cache")
def _(tmp: Path) -> Dict[str, Any]:
    shutil.copy(SHARED / "models" / FAST / "scrfd_500m_bnkps.onnx", tmp / "m.onnx")
    code = ("import edgecv; m = edgecv.load('m.onnx', threads=1); "
            f"print(len(m.detect({str(PHOTO)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp, timeout=300,
                          env={**os.environ, "EDGECV_CACHE": str(tmp / "cache")})
    return {"ok": proc.returncode == 0 and proc.stdout.strip().isdigit(), "outcome": f"exit {proc.returncode}",
            "detail": (proc.stdout.strip() + " faces") if proc.returncode == 0 else proc.stderr.strip()[-200:]}


@case("quantize-relative-out-fresh-cache", seconds=600, rss_mb=2500)
def _(tmp: Path) -> Dict[str, Any]:
    proc = edgecv_cli("quantize", FAST, "--calib", str(SHARED / "images" / "calib_faces"), "--to", "onnxruntime",
                      "--out", "q/", "--keep-slower", cwd=tmp, env={"EDGECV_CACHE": str(tmp / "cache")}, timeout=600)
    return {"ok": proc.returncode in (0, 1) and "does not load" not in proc.stderr and "not found" not in proc.stderr
            and any((tmp / "q").glob("*.edgecv.json")), "outcome": f"exit {proc.returncode}",
            "detail": proc.stderr.strip()[-200:] or proc.stdout.strip().splitlines()[-1][:200]}


MNN_PRINTER = """
import sys, threading, edgecv
def load():
    for _ in range(10):
        edgecv.load(sys.argv[1], engine='mnn', threads=1)
threads = [threading.Thread(target=load) for _ in range(2)]
[t.start() for t in threads]
i = 0
while any(t.is_alive() for t in threads) or i < 108:
    print(f'LINE {i}', flush=True)
    i += 1
[t.join() for t in threads]
print(f'TOTAL {i}', flush=True)
"""


@case("mnn-stdout-while-other-threads-print")
def _(tmp: Path) -> Dict[str, Any]:
    shutil.copy(SHARED / "models" / "scrfd_2.5g_bnkps_640" / "scrfd_2.5g_bnkps_shape640x640.mnn", tmp / "m.mnn")
    proc = subprocess.run([sys.executable, "-c", MNN_PRINTER, str(tmp / "m.mnn")], capture_output=True, text=True,
                          cwd=tmp, timeout=300, env={**os.environ, "EDGECV_CACHE": str(tmp / "cache")})
    total = int(re.search(r"TOTAL (\d+)", proc.stdout).group(1)) if "TOTAL" in proc.stdout else -1
    on_stdout = proc.stdout.count("LINE ")
    on_stderr = proc.stderr.count("LINE ")
    mnn_on_stdout = sum(1 for ln in proc.stdout.splitlines() if not ln.startswith(("LINE", "TOTAL")))
    return {"ok": proc.returncode == 0 and on_stdout == total and on_stderr == 0 and mnn_on_stdout == 0,
            "outcome": f"{on_stdout}/{total} lines on stdout, {on_stderr} on stderr",
            "detail": f"MNN notices on stdout: {mnn_on_stdout}"}


# -- MVS --------------------------------------------------------------------------------------------------
@case("pair-txt-lists-the-reference")
def _(tmp: Path) -> Dict[str, Any]:
    import edgecv
    from edgecv.tasks.mvs import load_scene

    scene = tmp / "scene"
    shutil.copytree(SCENE, scene)
    lines = (scene / "pair.txt").read_text().split("\n")
    out = [lines[0]]
    for i in range(1, len(lines) - 1, 2):  # every entry: the reference itself first, score 0
        ref, entry = lines[i].strip(), lines[i + 1].split()
        out += [ref, f"{int(entry[0]) + 1} {ref} 0 " + " ".join(entry[1:])]
    (scene / "pair.txt").write_text("\n".join(out) + "\n")
    try:
        loaded = load_scene(scene)
        chosen = loaded.views_for(0, 5)
        return {"ok": [v.index for v in chosen][0] == 0 and 0 not in [v.index for v in chosen[1:]],
                "outcome": "loaded", "detail": f"views for 0: {[v.index for v in chosen]}"}
    except edgecv.EdgecvError as exc:
        return {"ok": False, "outcome": type(exc).__name__, "detail": str(exc)[:160]}


# -- running -----------------------------------------------------------------------------------------------
def run_case(name: str) -> Dict[str, Any]:
    fn, rss_limit, time_limit = CASES[name]
    with tempfile.TemporaryDirectory(prefix="edgecv-hostile-") as tmp:
        t0 = time.perf_counter()
        try:
            result = fn(Path(tmp))
        except Exception as exc:
            result = {"ok": False, "outcome": f"harness: {type(exc).__name__}", "detail": str(exc)[:300]}
        seconds = time.perf_counter() - t0
    server = result.pop("_server", None)
    rss = result.pop("_rss", None)
    if rss is None:
        rss = max(peak_rss_mb(), getattr(server, "rss", 0.0))
    return {"case": name, "ok": bool(result.get("ok")), "outcome": result.get("outcome", ""),
            "seconds": result.get("seconds", round(seconds, 2)), "wall_s": round(seconds, 2),
            "peak_rss_mb": round(rss, 1), "rss_limit_mb": rss_limit, "time_limit_s": time_limit,
            "detail": result.get("detail", "")}


def main(argv: List[str]) -> int:
    if not argv or argv[0] == "--list":
        print("\n".join(CASES))
        return 0
    names = list(CASES) if argv[0] == "--all" else [a for a in argv if not a.startswith("--")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        print(f"unknown cases: {unknown}", file=sys.stderr)
        return 2
    isolated = "--isolated" in argv or len(names) > 1
    for name in names:
        if isolated:
            limit = CASES[name][2]
            try:
                proc = subprocess.run([sys.executable, __file__, name], capture_output=True, text=True,
                                      timeout=limit * 3)
                line = next((ln for ln in reversed(proc.stdout.splitlines()) if ln.startswith("{")), None)
                doc = json.loads(line) if line else {"case": name, "ok": False,
                                                     "outcome": f"died (exit {proc.returncode})",
                                                     "detail": proc.stderr[-300:]}
            except subprocess.TimeoutExpired:
                doc = {"case": name, "ok": False, "outcome": "hang", "detail": f"no answer in {limit * 3:g} s"}
            print(json.dumps(doc), flush=True)
        else:
            print(json.dumps(run_case(name)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

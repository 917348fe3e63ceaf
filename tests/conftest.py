"""Shared fixtures. Real models and photos come from ../shared (next to the repository):
EDGECV_MODELS defaults to ../shared/models, EDGECV_SHARED overrides the shared folder.
If they are absent the run fails loudly: nothing is skipped silently."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDGECV_SHARED", REPO.parent / "shared")).resolve()
os.environ.setdefault("EDGECV_MODELS", str(SHARED / "models"))
os.environ.setdefault("EDGECV_OFFLINE", "1")  # tests never reach the network
sys.path.insert(0, str(Path(__file__).resolve().parent))

from edgecv.targets import ENGINE_NAMES  # noqa: E402

#: Engines the task tests run on: every row of the engine table. The second pass on the pure-Python core
#: (EDGECV_CORE=python, tools/run_tests.sh) tests the core, which is the same for every engine: ONNX Runtime alone.
ENGINES = ("onnxruntime",) if os.environ.get("EDGECV_CORE") == "python" else ENGINE_NAMES
PHOTOS = ("group_t1.jpg", "street_1.jpg", "street_4.jpg", "street_6.jpg", "street_9.jpg", "street_12.jpg")
SCRFD = "scrfd_2.5g_bnkps_640"


def pytest_sessionstart(session):
    missing = [p for p in (SHARED / "models" / SCRFD, SHARED / "images" / "group_t1.jpg") if not p.exists()]
    if missing:
        pytest.exit(f"shared models/photos not found ({missing}); set EDGECV_SHARED to the shared folder",
                    returncode=3)


@pytest.fixture(scope="session")
def shared() -> Path:
    return SHARED


@pytest.fixture(scope="module")
def module_cache(tmp_path_factory):
    """A fresh EDGECV_CACHE for one test module (engine files converted on first use land here)."""
    old = os.environ.get("EDGECV_CACHE")
    os.environ["EDGECV_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("EDGECV_CACHE")
    else:
        os.environ["EDGECV_CACHE"] = old


@pytest.fixture(scope="session")
def photos() -> dict:
    import edgecv

    return {name: edgecv.read_image(SHARED / "images" / name) for name in PHOTOS}


_models: dict = {}


def cached_model(engine: str = "onnxruntime", name: str = SCRFD, **options):
    """Session-wide cache of loaded models, by name, engine and options (loading is the slow part)."""
    import edgecv

    key = (name, engine, tuple(sorted(options.items())))
    if key not in _models:
        _models[key] = edgecv.load(name, engine=engine, threads=2, **options)
    return _models[key]


def run_python(*args: str, timeout: int = 300):
    """Run ``python *args`` outside the source tree (so the installed edgecv is imported)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory() as cwd:
        return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                              cwd=cwd)


def run_without_module(module: str, statement: str, catch: str):
    """Run ``statement`` in a fresh interpreter where ``module`` cannot be imported; prints 'OK <message>'
    when it raises edgecv.errors.<catch>."""
    code = (f"import sys; sys.modules[{module!r}] = None\n"
            "import edgecv, edgecv.errors\n"
            "try:\n"
            f"    {statement}\n"
            f"except edgecv.errors.{catch} as e:\n"
            "    print('OK', e)\n")
    return run_python("-c", code)


@pytest.fixture
def edgecv_log():
    """The records edgecv's loggers emit during the test, caught on the ``edgecv`` logger itself (pytest's caplog,
    on the root logger, came back empty here after the quantisation tests although the records were emitted)."""
    records: list = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # type: ignore[method-assign]
    logger = logging.getLogger("edgecv")
    logger.addHandler(handler)
    yield records
    logger.removeHandler(handler)


def copy_files(files, folder: Path) -> Path:
    """``folder`` (created) holding copies of ``files``: a calibration or held-out set made from shared photos."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, folder / Path(f).name)
    return folder

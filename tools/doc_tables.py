"""Generate the docs' reference tables from the code, so defaults are stated once (in the code).

    python tools/doc_tables.py          # rewrite the tables in docs/**/*.md
    python tools/doc_tables.py --check  # exit 1 if a page is out of date (run by the tests)

A table lives between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->`` in any page; NAME is ``engines``,
``models``, ``errors``, ``options:<task>``, ``gates`` or ``fusion``, and every one must appear somewhere. Run it
with the installed edgecv (outside the source tree).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Dict, List

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _fmt(value) -> str:
    if value is None:
        return "model's / auto"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _table(header: List[str], rows: List[List[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def engines_table() -> str:
    from edgecv.targets import TARGETS

    rows = []
    for t in TARGETS.values():
        files = " + ".join(f"`{p.name}`" for p in t.files_for(".", "<stem>"))
        if t.reads_onnx and t.suffix != ".onnx":
            files += " (or the `.onnx` file)"
        int8 = t.hook("quantizer").__module__.rsplit(".", 1)[-1] if t.quantizer else "no"
        rows.append([f"`{t.name}`" + (f" (`{'`, `'.join(t.aliases)}`)" if t.aliases else ""), files,
                     f"`edgecv[{t.extra}]`", t.converter_label, f"`{int8}`" if t.quantizer else "no",
                     "yes" if t.fp16 else "no (error)",
                     "yes" if t.reentrant else "no: calls on one model are serialised"])
    return _table(["engine (aliases)", "model files", "extra", "converter", "INT8 quantiser", "fp16",
                   "concurrent calls"], rows)


def options_table(task: str) -> Callable[[], str]:
    def build() -> str:
        from edgecv.tasks import TASKS

        rows = [[f"`{o.name}`", ("none" if o.kind == "object" else _fmt(o.default)) if o.default is None
                 else _fmt(o.default), "yes" if o.per_call else "load only", o.help] for o in TASKS[task].options]
        return _table(["option", "default", "per call", "meaning"], rows)
    return build


def gates_table() -> str:
    from edgecv.tasks import TASKS

    rows = []
    for spec in TASKS.values():
        for profile, gates in spec.gates.items():
            for g in gates:
                sign = "≥" if g.kind == "min" else "≤"
                rows.append([spec.name, profile, f"`{g.flag}`", f"{sign} {g.limit:g}", g.help])
    return _table(["task", "profile", "flag", "limit", "metric"], rows)


def fusion_table() -> str:
    from dataclasses import fields

    from edgecv.tasks.mvs import FusionParams

    d = FusionParams()
    docs = {"min_confidence": "photometric confidence needed (PatchmatchNet's median here: 0.55)",
            "max_reprojection_px": "forward-backward reprojection error, reference pixels",
            "max_relative_depth": "relative depth difference after the round trip",
            "min_views": "source views that must agree",
            "threads": "consistency-check threads (0: the model's threads)"}
    return _table(["FusionParams", "default", "meaning"],
                  [[f"`{f.name}`", _fmt(getattr(d, f.name)), docs.get(f.name, "")] for f in fields(d)])


def models_table() -> str:
    from edgecv.store import list_manifests

    rows = []
    for name, m in sorted(list_manifests().items()):
        converted = [e for e in m.engines if m.files_source(e) is None]
        engines = ", ".join(f"{e}{' (converted on first use)' if e in converted else ''}" for e in m.engines)
        rows.append([f"`{name}`", m.task, m.licence, engines, m.description])
    return _table(["model", "task", "licence", "engines", "what"], rows)


def errors_table() -> str:
    import inspect

    from edgecv import errors

    rows = []
    for name in errors.__all__:
        cls = getattr(errors, name)
        bases = [b.__name__ for b in cls.__bases__ if b is not errors.EdgecvError and b.__module__ == errors.__name__]
        builtin = [b.__name__ for b in cls.__bases__ if b.__module__ == "builtins"]
        also = ", ".join(f"`{b}`" for b in bases + builtin)
        doc = " ".join((inspect.getdoc(cls) or "").split())
        rows.append([f"`{name}`", doc + (f" (also {also})" if also else "")])
    return _table(["error", "raised for"], rows)


def builders() -> Dict[str, Callable[[], str]]:
    from edgecv.tasks import TASKS

    out = {"engines": engines_table, "models": models_table, "errors": errors_table, "gates": gates_table,
           "fusion": fusion_table}
    out.update({f"options:{t}": options_table(t) for t in TASKS})
    return out


def render(pages: Dict[Path, str]) -> Dict[Path, str]:
    """Every page with its tables regenerated; SystemExit when a table appears nowhere."""
    out = dict(pages)
    for name, build in builders().items():
        tag = re.escape(name)
        pattern = re.compile(rf"(<!-- table:{tag} -->\n)(?:.*?\n)?(<!-- /table:{tag} -->)", re.S)
        holders = [p for p, text in out.items() if pattern.search(text)]
        if not holders:
            raise SystemExit(f"no page in docs/ has the table:{name} markers")
        table = build()
        for p in holders:
            out[p] = pattern.sub(lambda m, table=table: m.group(1) + table + "\n" + m.group(2), out[p])
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 when a page is out of date")
    args = ap.parse_args()
    pages = {p: p.read_text() for p in sorted(DOCS.rglob("*.md"))}
    updated = render(pages)
    stale = [p for p in pages if updated[p] != pages[p]]
    if args.check:
        if stale:
            names = ", ".join(str(p.relative_to(DOCS.parent)) for p in stale)
            print(f"generated tables are out of date in {names}: run python tools/doc_tables.py", file=sys.stderr)
            return 1
        return 0
    for p in stale:
        p.write_text(updated[p])
    return 0


if __name__ == "__main__":
    sys.exit(main())

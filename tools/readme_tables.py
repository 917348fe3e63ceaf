"""Generate the README's reference tables from the code, so defaults are stated once (in the code).

    python tools/readme_tables.py          # rewrite the tables in README.md
    python tools/readme_tables.py --check  # exit 1 if README.md is out of date (run by the tests)

A table lives between ``<!-- table:NAME -->`` and ``<!-- /table:NAME -->``; NAME is ``engines``,
``options:<task>``, ``gates`` or ``fusion``. Run it with the installed edgecv (outside the source tree).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Callable, Dict, List

README = Path(__file__).resolve().parents[1] / "README.md"


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
    from edgecv.engines import engine_class
    from edgecv.targets import TARGETS

    rows = []
    for t in TARGETS.values():
        cls = engine_class(t.name)
        files = f"`{t.suffix}`" + "".join(f" + `{c}`" for c in t.companions)
        rows.append([f"`{t.name}`" + (f" (`{'`, `'.join(t.aliases)}`)" if t.aliases else ""), files,
                     f"`edgecv[{t.extra}]`", t.converter, "yes" if t.fp16 else "no (error)",
                     "yes" if cls.reentrant else "no: calls on one model are serialised"])
    return _table(["engine (aliases)", "model files", "extra", "converter", "fp16=True", "concurrent calls"], rows)


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
                rows.append([spec.name, profile, f"`{g.flag}`", f"{'≥' if g.kind == 'min' else '≤'} {g.limit:g}", g.help])
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


def builders() -> Dict[str, Callable[[], str]]:
    from edgecv.tasks import TASKS

    out = {"engines": engines_table, "gates": gates_table, "fusion": fusion_table}
    out.update({f"options:{t}": options_table(t) for t in TASKS})
    return out


def render(text: str) -> str:
    for name, build in builders().items():
        pattern = re.compile(rf"(<!-- table:{re.escape(name)} -->\n)(?:.*?\n)?(<!-- /table:{re.escape(name)} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no table:{name} markers")
        table = build()
        text = pattern.sub(lambda m: m.group(1) + table + "\n" + m.group(2), text)
    return text


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only check; exit 1 when README.md is out of date")
    args = ap.parse_args()
    current = README.read_text()
    updated = render(current)
    if args.check:
        if updated != current:
            print("README.md tables are out of date: run python tools/readme_tables.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(updated)
    return 0


if __name__ == "__main__":
    sys.exit(main())

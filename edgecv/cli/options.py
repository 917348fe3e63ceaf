"""Task options and accuracy gates as command-line flags, read from the task registry, and loading ``--model`` with
the options given."""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Tuple

from ..errors import InvalidInputError, UnknownOptionError
from .args import finite_float


def option_flags() -> Dict[str, List[Tuple[str, Any]]]:
    """flag -> [(task, Option)] for every command-line option of the image tasks."""
    from ..tasks import IMAGE, TASKS

    flags: Dict[str, List[Tuple[str, Any]]] = {}
    for spec in TASKS.values():
        if spec.inputs == IMAGE:
            for opt in spec.options:
                if opt.cli:
                    flags.setdefault(opt.flag, []).append((spec.name, opt))
    return flags


def add_option_flags(p: argparse.ArgumentParser) -> None:
    """One flag per task option; the help says which tasks take it."""
    for flag, owners in option_flags().items():
        tasks = ", ".join(t for t, _ in owners)
        opt = owners[0][1]
        default = "" if opt.default is None else f"; default {opt.default}"
        if opt.kind == "bool":
            p.add_argument(flag, action="store_true", default=None, help=f"{tasks}: {opt.help}")
        else:
            p.add_argument(flag, metavar=opt.kind.upper() if opt.kind != "size" else "N|HxW",
                           help=f"{tasks}: {opt.help}{default}")


def given_options(args: argparse.Namespace) -> Dict[str, Any]:
    """Option values given on the command line, parsed by their Option."""
    given = {}
    for flag, owners in option_flags().items():
        value = getattr(args, flag[2:].replace("-", "_"), None)
        if value is not None:
            opt = owners[0][1]
            given[opt.name] = value if opt.kind == "bool" else opt.from_text(value)
    return given


def load_model(args: argparse.Namespace, options: Dict[str, Any]):
    """Load ``--model`` for a command; an option of another task's models is a one-line error naming the flag."""
    from ..loading import load
    from ..tasks import TASKS

    try:
        return load(args.model, engine=args.engine, threads=args.threads, fp16=getattr(args, "fp16", None) or None,
                    trust=args.trust, **options)
    except UnknownOptionError as exc:
        if exc.option not in options:
            raise
        owners = [t for t, s in TASKS.items() if any(o.name == exc.option for o in s.options)]
        flag = "--" + exc.option.replace("_", "-")
        raise InvalidInputError(f"{flag} is an option of {', '.join(owners)} models; {args.model} is a {exc.task} "
                                "model") from None


def gate_flags(profiles: Tuple[str, ...] = ("convert", "quantize")) -> Dict[str, Tuple[str, List[str]]]:
    """flag -> (metric, [task/profile limit, ...]) for every gate of every task in ``profiles``."""
    from ..tasks import TASKS

    flags: Dict[str, Tuple[str, List[str]]] = {}
    for spec in TASKS.values():
        for profile, gates in spec.gates.items():
            if profile not in profiles:
                continue
            for g in gates:
                flags.setdefault(g.flag, (g.metric, []))[1].append(f"{spec.name}/{profile} {g.limit:g}")
    return flags


def add_gate_flags(p: argparse.ArgumentParser, profiles: Tuple[str, ...] = ("convert", "quantize")) -> None:
    for flag, (metric, owners) in gate_flags(profiles).items():
        p.add_argument(flag, type=finite_float, dest=flag[2:].replace("-", "_"),
                       help=f"limit on {metric} (default: {'; '.join(owners)})")


def given_limits(args: argparse.Namespace, profiles: Tuple[str, ...] = ("convert", "quantize")) -> Dict[str, float]:
    values = {metric: getattr(args, flag[2:].replace("-", "_")) for flag, (metric, _) in gate_flags(profiles).items()}
    return {k: v for k, v in values.items() if v is not None}

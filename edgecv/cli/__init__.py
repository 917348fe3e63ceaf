"""Command line: ``edgecv detect | convert | quantize | bench | validate | eval | mvs | batch | serve | info | fetch``.

One module per command, each with its parser (``register``) and handler (``run``); ``args`` holds the typed
argparse converters and shared arguments, ``options`` the task options and gates as flags, ``output`` what
commands print and write. Every error is one line on stderr and exit status 2; ``--debug`` shows the traceback
instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import List, Optional

from ..errors import EdgecvError
from . import batch, bench, convert, detect, fetch, info, mvs, quantize, serve, validate
from . import eval as eval_command

#: The commands in the order ``--help`` lists them.
COMMANDS = (detect, convert, quantize, bench, validate, eval_command, mvs, batch, serve, info, fetch)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="edgecv", description="Computer-vision models on edge devices.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    # File names that are not UTF-8 reach the output as \xNN escapes instead of ending the command.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    try:
        if getattr(args, "max_pixels", None) is not None:  # this process and every worker it starts
            from ..image import ENV_MAX_PIXELS, pixel_limit

            os.environ[ENV_MAX_PIXELS] = str(pixel_limit(args.max_pixels))
        return args.func(args)
    except KeyboardInterrupt:
        print("edgecv: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # stdout closed by the reader (`edgecv ... | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except EdgecvError as exc:
        if args.debug:
            raise
        print(f"edgecv: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 2
    except Exception as exc:  # a bug: still one line, the traceback with --debug
        if args.debug:
            raise
        print(f"edgecv: unexpected error ({type(exc).__name__}: {' '.join(str(exc).split())[:300]}); "
              "run with --debug for the traceback and please report it", file=sys.stderr)
        return 2


__all__ = ["main", "build_parser", "COMMANDS"]

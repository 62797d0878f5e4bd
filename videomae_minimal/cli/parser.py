"""`videomae-minimal` (also `python -m videomae_minimal`): the parser, assembled from each command group's
`register`, and `main`. The top layer: it only calls the steps. Hand-written (no notebook)."""
from __future__ import annotations

import argparse
import sys
import textwrap

from . import check, embed, look, teach, train
from .options import CommandError
from .train import report_interrupt

__all__ = ["COMMAND_GROUPS", "build_parser", "main"]


# `videomae-minimal --help` lists the commands in these groups, in this order (every command in one group).
COMMAND_GROUPS = {
    "look at a video": ("demo", "frames", "synthetic-clip", "classify", "embed", "reconstruct"),
    "check a checkpoint": ("compare", "evaluate"),
    "train": ("make-synthetic", "pretrain", "finetune"),
    "teach": ("course", "student", "grade", "grade-class"),
}


DESCRIPTION = ("VideoMAE built from scratch, with the course that builds it. Its commands, in four groups: look at a "
               "video, check a checkpoint, train, and teach. `videomae-minimal COMMAND --help` tells more of each.")


def _grouped_commands(helps: dict[str, str]) -> str:
    "The top-level help's list of commands: one table, a heading per group, each command's one-line help."
    grouped = [name for names in COMMAND_GROUPS.values() for name in names]
    if sorted(grouped) != sorted(helps):  # a new command must be given a group, or --help would hide it
        raise AssertionError(f"COMMAND_GROUPS lists {sorted(grouped)}, the parser has {sorted(helps)}")
    lines = [textwrap.fill(DESCRIPTION, 100)]
    for group, names in COMMAND_GROUPS.items():
        lines += ["", f"{group}:"]
        lines += [textwrap.fill(helps[name], 100, initial_indent=f"  {name:<15} ", subsequent_indent=" " * 18)
                  for name in names]
    return "\n".join(lines)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    from ..version import __version__

    try:
        return version("videomae-minimal")  # the installed distribution's
    except PackageNotFoundError:  # a checkout on PYTHONPATH, not installed
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="videomae-minimal", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help=argparse.SUPPRESS)
    parser.usage = "%(prog)s [-h] [--version] COMMAND ..."  # after add_subparsers: the commands' usage stays theirs
    helps = {}

    def add(name: str, **options) -> argparse.ArgumentParser:  # records each help for the grouped list
        helps[name] = options["help"]
        return sub.add_parser(name, **options)

    for group in (look, embed, check, train, teach):  # each registers its own sub-commands beside its handlers
        group.register(add)
    parser.description = _grouped_commands(helps)
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else [str(a) for a in argv]
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except KeyboardInterrupt as e:  # a RunInterrupted (a checkpoint was saved), or a Ctrl-C elsewhere
        return report_interrupt(args, argv, e)
    except (CommandError, ValueError, IndexError, OSError) as e:  # VideoReadError and CheckpointError are ValueErrors
        print(f"videomae-minimal {args.command}: error: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # a bug or an unforeseen input: still exit 2, never 1 (which means "mismatch" for compare)
        import traceback

        traceback.print_exc()
        print(f"videomae-minimal {args.command}: unexpected error: {type(e).__name__}: {e}", file=sys.stderr)
        return 2
    text, status = result if isinstance(result, tuple) else (result, 0)
    print(text)
    return status

"""The `videomae-minimal` command line, one module per command group: look (at a video), embed, check (a checkpoint),
train and teach, each registering its sub-commands beside their handlers; options (what they share) and parser
(the parser and `main`). Hand-written (no notebook): the top layer, it only calls the steps."""
from .parser import COMMAND_GROUPS, build_parser, main
from .options import CommandError

__all__ = ["COMMAND_GROUPS", "CommandError", "build_parser", "main"]

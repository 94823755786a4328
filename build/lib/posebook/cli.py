"""Command line: ``posebook <command> ...`` or ``python -m posebook <command> ...``.

Each command lives in the module that does the work (``predict``: in the module that draws its
page, which calls `posebook.predict` for the work), which exposes ``add_arguments(parser)`` and
``run(args) -> int``; this file only dispatches.

Expected failures (bad input, a missing or damaged file, a full disk, a locked run folder, an
interruption) print one line ``posebook <command>: error: ...`` and exit non-zero (2; 130 for
Ctrl-C); a traceback means a bug in posebook.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "train": ("posebook.train", "train a model on a profile (runs/<name>/)"),
    "eval": ("posebook.evaluate", "evaluate a run: flip TTA, snapshot ensemble, test sets"),
    "predict": ("posebook.viz.predict", "3D pose for a person in your own image"),
    "prepare-h36m": ("posebook.data.h36m_prepare", "extract Human3.6M frames and write the index"),
}


DESCRIPTION = ("Train, evaluate and use the 3D human pose models of Sárándi et al. (2018): "
               "volumetric heatmaps with synthetic occlusion augmentation.")
EPILOG = ("Run 'posebook COMMAND --help' for a command's options. Errors print one line "
          "'posebook COMMAND: error: ...' and exit 2.")


def build_parser(with_options=tuple(COMMANDS)) -> argparse.ArgumentParser:
    """The parser of every command; the options of those in `with_options`, whose modules it
    imports (torch and all): `main` asks for the one command typed, so ``--version`` and
    ``--help`` import none."""
    from . import __version__
    parser = argparse.ArgumentParser(prog="posebook", description=DESCRIPTION, epilog=EPILOG)
    parser.add_argument("--version", action="version", version=f"posebook {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND",
                                title="commands")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        if name not in with_options:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            command.set_defaults(module=None, module_name=module_name)
            continue
        module.add_arguments(command)
        command.set_defaults(module=module, module_name=module_name)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    typed = next((word for word in argv if not word.startswith("-")), None)  # the command
    args = build_parser(with_options=[typed]).parse_args(argv)
    if args.module is None:
        print(f"posebook {args.command}: not available ({args.module_name} is missing)",
              file=sys.stderr)
        return 2
    from .runlock import RunLocked

    _print_any_file_name()
    try:
        return int(args.module.run(args) or 0)
    except (ValueError, OSError, RunLocked) as error:   # OSError: missing file, disk full, ...
        message = " ".join(str(error).split()) or type(error).__name__
        print(f"posebook {args.command}: error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"posebook {args.command}: interrupted", file=sys.stderr)
        return 130


def _print_any_file_name() -> None:
    """A Linux file name may hold bytes that are not UTF-8 (Python reads them as surrogates, C83):
    stdout writes them back as those bytes, as Python does in the POSIX locale, instead of
    failing after the work where the locale's UTF-8 is strict (stderr already escapes them)."""
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and (sys.stdout.encoding or "").lower().replace("-", "") == "utf8":
        reconfigure(errors="surrogateescape")


if __name__ == "__main__":
    sys.exit(main())

"""The command line: typer commands that parse, call the library (``vabatch.api``) and print.

Every command is listed here, in the order ``vabatch --help`` lists them; the command
functions live in one module per topic (``stages``, ``data``, ``score``, ``annotate``,
``migrate``, ``dvc``, ...) and share ``common``. Modules import the library inside the
commands, so ``vabatch --help`` answers at once.

A command module is imported only when its command is built: ``vabatch verify ...`` loads
``cli/data.py`` alone (:func:`main` builds the command line with the command its first
argument names), while ``vabatch``, ``vabatch --help`` and an unknown name build every
command, so the help and the "did you mean" of a typo are those of the whole command line.
``vabatch.cli.app`` (what tests give typer's CliRunner) is the whole command line.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence

import typer

from vabatch.cli.common import new_app, reports_errors

# name -> (module under vabatch.cli, function), in --help order.
COMMANDS = {
    "ingest": ("stages", "ingest"), "status": ("data", "status"),
    "verify": ("data", "verify"), "demo": ("data", "demo"), "ocr": ("stages", "ocr"),
    "layout": ("stages", "layout"), "crop": ("stages", "crop"),
    "captions": ("stages", "captions"), "run": ("stages", "run"),
    "export": ("data", "export"), "score": ("score", "score"),
    "migrate": ("migrate", "migrate"), "runs": ("data", "runs"),
    "query": ("query", "query"), "search": ("query", "search"),
    "backup": ("dataset", "backup"), "restore": ("dataset", "restore"),
    "info": ("info", "info"),
}
# Hidden commands, and the command whose second word reaches them (`vabatch layout show` is
# `layout-show`, see TWO_WORD_COMMANDS in common.py).
HIDDEN = {
    "layout-show": ("layout", "stages", "layout_show"),
    "export-dataset": ("export", "dataset", "export_dataset"),
}
# group -> (help, [(subgroup or None, name, module, function)]), in --help order.
GROUPS = {
    "annotate": ("Human annotations: the review page; captions and box labels in and out.", (
        ("captions", "export", "annotate", "captions_export"),
        ("captions", "import", "annotate", "captions_import"),
        ("labels", "export", "annotate", "labels_export"),
        ("labels", "import", "annotate", "labels_import"),
        ("labels", "orphans", "annotate", "labels_orphans"),
        (None, "serve", "annotate", "serve"),
    )),
    "train": ("Train models from human annotations.", (
        (None, "layout", "annotate", "train_layout_command"),
        (None, "boundaries", "annotate", "train_boundaries_command"),
    )),
    "dvc": ("Version the data with DVC: video list, tracking setup, stages.", (
        (None, "sync", "dvc", "sync"), (None, "setup", "dvc", "setup"),
        (None, "ingest", "dvc", "ingest"),
    )),
}
SUBGROUP_HELP = {
    "captions": "Captions of one video as SRT/VTT, and a corrected file back as human edits.",
    "labels": "Box labels (caption / noise) of one video, as CSV or JSON.",
}


def _function(module: str, name: str):
    return reports_errors(getattr(importlib.import_module(f"vabatch.cli.{module}"), name))


def _add_group(app: typer.Typer, group: str) -> None:
    help_text, commands = GROUPS[group]
    parent = typer.Typer(help=help_text, no_args_is_help=True)
    subgroups: dict[str, typer.Typer] = {}
    for subgroup, name, module, function in commands:
        if subgroup is not None and subgroup not in subgroups:
            subgroups[subgroup] = typer.Typer(help=SUBGROUP_HELP[subgroup],
                                              no_args_is_help=True)
        target = parent if subgroup is None else subgroups[subgroup]
        target.command(name)(_function(module, function))
    for subgroup, typer_app in subgroups.items():
        parent.add_typer(typer_app, name=subgroup)
    app.add_typer(parent, name=group)


def build_app(command: str | None = None) -> typer.Typer:
    """The command line with every command, or with only the one named ``command`` (with
    the hidden command its second word reaches); every command when the name is unknown."""
    known = command in COMMANDS or command in HIDDEN or command in GROUPS
    app = new_app()
    for name, (module, function) in COMMANDS.items():
        if not known or name == command:
            app.command(name)(_function(module, function))
    for name, (reached_from, module, function) in HIDDEN.items():
        if not known or command in (name, reached_from):
            app.command(name, hidden=True)(_function(module, function))
    for group in GROUPS:
        if not known or group == command:
            _add_group(app, group)
    return app


def command_named(args: Sequence[str]) -> str | None:
    """The command the arguments name: their first (the top level has no option but
    --help), or None for none."""
    return args[0] if args else None


def __getattr__(name: str):
    """``vabatch.cli.app``: the whole command line, built on first use."""
    if name == "app":
        app = globals()["app"] = build_app()
        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console-script entry point: builds only the command the arguments name."""
    build_app(command_named(sys.argv[1:]))()

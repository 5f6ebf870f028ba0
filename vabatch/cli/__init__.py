"""The command line: typer commands that parse, call the library (``vabatch.api``) and print.

Every command is registered here, in the order ``vabatch --help`` lists them; the command
functions live in one module per topic (``stages``, ``data``, ``score``, ``annotate``,
``migrate``, ``dvc``) and share ``common``. Modules import the library inside the commands, so
``vabatch --help`` answers at once.
"""

from __future__ import annotations

import typer

from vabatch.cli import annotate, data, dvc, migrate, score, stages
from vabatch.cli.common import app, reports_errors

COMMANDS = (
    ("ingest", stages.ingest), ("status", data.status), ("verify", data.verify),
    ("demo", data.demo), ("ocr", stages.ocr), ("layout", stages.layout),
    ("crop", stages.crop), ("captions", stages.captions), ("run", stages.run),
    ("export", data.export), ("score", score.score), ("migrate", migrate.migrate),
    ("runs", data.runs),
)
annotate_app = typer.Typer(help="Human annotations: export and import labels.",
                           no_args_is_help=True)
labels_app = typer.Typer(help="Box labels (caption / noise) of one video, as CSV or JSON.",
                         no_args_is_help=True)
train_app = typer.Typer(help="Train models from human annotations.", no_args_is_help=True)
dvc_app = typer.Typer(help="Version the data with DVC: video list, tracking setup, stages.",
                      no_args_is_help=True)
SUBCOMMANDS = (
    (labels_app, "export", annotate.labels_export),
    (labels_app, "import", annotate.labels_import),
    (labels_app, "orphans", annotate.labels_orphans),
    (train_app, "layout", annotate.train_layout_command),
    (train_app, "boundaries", annotate.train_boundaries_command),
    (dvc_app, "sync", dvc.sync), (dvc_app, "setup", dvc.setup), (dvc_app, "ingest", dvc.ingest),
)

for name, function in COMMANDS:
    app.command(name)(reports_errors(function))
app.command("layout-show", hidden=True)(reports_errors(stages.layout_show))  # `layout show`
for parent, name, function in SUBCOMMANDS:
    parent.command(name)(reports_errors(function))
annotate_app.add_typer(labels_app, name="labels")
app.add_typer(annotate_app, name="annotate")
app.add_typer(train_app, name="train")
app.add_typer(dvc_app, name="dvc")


def main() -> None:
    """Console-script entry point."""
    app()

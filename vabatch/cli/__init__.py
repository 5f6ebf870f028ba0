"""The command line: typer commands that parse, call the library (``vabatch.api``) and print.

Every command is registered here, in the order ``vabatch --help`` lists them; the command
functions live in one module per topic (``stages``, ``data``, ``score``, ``annotate``,
``migrate``, ``dvc``) and share ``common``. Modules import the library inside the commands, so
``vabatch --help`` answers at once.
"""

from __future__ import annotations

import typer

from vabatch.cli import annotate, data, dataset, dvc, migrate, query, score, stages
from vabatch.cli.common import app, reports_errors

COMMANDS = (
    ("ingest", stages.ingest), ("status", data.status), ("verify", data.verify),
    ("demo", data.demo), ("ocr", stages.ocr), ("layout", stages.layout),
    ("crop", stages.crop), ("captions", stages.captions), ("run", stages.run),
    ("export", data.export), ("score", score.score), ("migrate", migrate.migrate),
    ("runs", data.runs), ("query", query.query), ("search", query.search),
    ("backup", dataset.backup), ("restore", dataset.restore),
)
annotate_app = typer.Typer(help="Human annotations: the review page; captions and box "
                           "labels in and out.", no_args_is_help=True)
captions_app = typer.Typer(help="Captions of one video as SRT/VTT, and a corrected file "
                           "back as human edits.", no_args_is_help=True)
labels_app = typer.Typer(help="Box labels (caption / noise) of one video, as CSV or JSON.",
                         no_args_is_help=True)
train_app = typer.Typer(help="Train models from human annotations.", no_args_is_help=True)
dvc_app = typer.Typer(help="Version the data with DVC: video list, tracking setup, stages.",
                      no_args_is_help=True)
SUBCOMMANDS = (
    (captions_app, "export", annotate.captions_export),
    (captions_app, "import", annotate.captions_import),
    (labels_app, "export", annotate.labels_export),
    (labels_app, "import", annotate.labels_import),
    (labels_app, "orphans", annotate.labels_orphans),
    (annotate_app, "serve", annotate.serve),
    (train_app, "layout", annotate.train_layout_command),
    (dvc_app, "sync", dvc.sync), (dvc_app, "setup", dvc.setup), (dvc_app, "ingest", dvc.ingest),
)

for name, function in COMMANDS:
    app.command(name)(reports_errors(function))
app.command("layout-show", hidden=True)(reports_errors(stages.layout_show))  # `layout show`
# `export dataset` (beside the subtitle formats of `export srt|vtt|json`)
app.command("export-dataset", hidden=True)(reports_errors(dataset.export_dataset))
for parent, name, function in SUBCOMMANDS:
    parent.command(name)(reports_errors(function))
annotate_app.add_typer(captions_app, name="captions")
annotate_app.add_typer(labels_app, name="labels")
app.add_typer(annotate_app, name="annotate")
app.add_typer(train_app, name="train")
app.add_typer(dvc_app, name="dvc")


def main() -> None:
    """Console-script entry point."""
    app()

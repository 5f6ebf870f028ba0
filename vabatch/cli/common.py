"""What every command module shares: the app (``new_app``), the consoles, the common
options, one-line errors, JSON output, result tables, and running stages on the engine with
a live display.

The command modules only parse, call the library (``vabatch.api`` and the library modules
it names) and print; the defaults they show come from the library's option types.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperGroup

try:  # typer 0.29 carries click inside as typer._click; older typer used click itself
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException

from vabatch.errors import VabatchError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

# Commands of two words that are not a group of their own: `vabatch layout show` is the
# hidden command `layout-show` (so `layout show --help` is its help), while `vabatch layout
# VIDEO...` stays the layout stage; `vabatch export dataset` likewise, beside `export srt`.
TWO_WORD_COMMANDS = {("layout", "show"): "layout-show",
                     ("export", "dataset"): "export-dataset"}


class VabatchGroup(TyperGroup):
    """The top-level group: resolves the two-word commands."""

    def resolve_command(self, ctx, args: list[str]):
        hidden = TWO_WORD_COMMANDS.get(tuple(args[:2]))
        if hidden is not None and hidden in self.commands:
            return " ".join(args[:2]), self.commands[hidden], args[2:]
        return super().resolve_command(ctx, args)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             **extra):
        """typer's main, but a usage error (unknown option, missing argument, a bad value,
        typer.BadParameter) prints one ``error:`` line naming the command's --help instead
        of a boxed panel."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, False, **extra)
        except ClickException as error:
            if type(error).__name__ == "NoArgsIsHelpError":  # the help was printed already
                sys.exit(error.exit_code)
            from rich.markup import escape

            context = getattr(error, "ctx", None)
            hint = f" (see `{context.command_path} --help`)" if context is not None else ""
            err.print(f"[red]error:[/red] {escape(error.format_message())}{hint}",
                      highlight=False)
            sys.exit(error.exit_code)
        except typer.Abort:
            err.print("[yellow]aborted[/yellow]")
            sys.exit(1)
        sys.exit(result if isinstance(result, int) else 0)


def new_app() -> typer.Typer:
    """The top-level command line, with no command yet (``vabatch/cli/__init__.py`` adds
    them)."""
    return typer.Typer(
        cls=VabatchGroup,
        name="vabatch",
        help="Turn videos with burned-in captions into a versioned dataset of SQLite "
             "databases.",
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        add_completion=False,
        # A group even when only one command is built (typer makes a lone command the
        # whole program otherwise): the callback does nothing.
        callback=_no_options,
    )


def _no_options() -> None:
    """The top level takes no option of its own."""


class LazyConsole:
    """A rich ``Console`` made at its first use, so that a command which prints nothing
    through rich (``vabatch verify --json``) does not import rich at all. Every attribute
    is the console's; ``console`` is the console itself, for rich's own ``console=``."""

    def __init__(self, **options) -> None:
        self._options = options
        self._console: Console | None = None

    @property
    def console(self) -> Console:
        if self._console is None:
            from rich.console import Console

            self._console = Console(**self._options)
        return self._console

    def print(self, *objects, **options) -> None:
        self.console.print(*objects, **options)

    def __getattr__(self, name: str):
        if name.startswith("_"):  # not made yet (copy, pickle): no console for these
            raise AttributeError(name)
        return getattr(self.console, name)


out = LazyConsole(soft_wrap=True)
err = LazyConsole(stderr=True, soft_wrap=True)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """'1 video', '2 videos' ('1 directory', '3 directories' with ``plural_form``)."""
    return f"{count} {singular if count == 1 else plural_form or singular + 's'}"


DataOption = Annotated[
    Path | None,
    typer.Option("--data", envvar="VABATCH_DATA", show_default="./data",
                 help="Data root holding videos/ (or set VABATCH_DATA)."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")]
VideosArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Video ids (or unique prefixes), directories, video files or source "
                        "names; all videos when omitted.", show_default=False),
]
ForceOption = Annotated[bool, typer.Option("--force", help="Redo the work even if up to date.")]
# The batch engine's options, shared by every stage command (see docs/engine.md).
WorkersOption = Annotated[int | None, typer.Option(
    "--workers", "-w", min=1, show_default="number of cores",
    help="Worker processes (with --cluster local: Dask workers).")]
SchedulerOption = Annotated[str | None, typer.Option(
    "--scheduler", envvar="VABATCH_SCHEDULER", metavar="tcp://HOST:PORT",
    help="Run the tasks on this Dask distributed scheduler (shared filesystem needed).")]
ClusterOption = Annotated[str | None, typer.Option(
    "--cluster", metavar="local", help="'local': start a Dask LocalCluster for this run.")]
RetriesOption = Annotated[int | None, typer.Option(
    "--retries", min=0, show_default="3",
    help="Retries of a task after a transient error (locked database, I/O error, a worker "
         "that died), with exponential backoff.")]


def reports_errors(command):
    """Turn VabatchError (and stray OS errors) into one line on stderr and a non-zero exit."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except VabatchError as error:
            if os.environ.get("VABATCH_DEBUG"):
                raise
            err.print(f"[red]error:[/red] {error}", highlight=False)
            raise typer.Exit(error.exit_code) from None
        except OSError as error:
            if os.environ.get("VABATCH_DEBUG"):
                raise
            where = f"{error.filename}: " if error.filename else ""
            err.print(f"[red]error:[/red] {where}{error.strerror or error}", highlight=False)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/yellow]: finished work is kept; run again to resume")
            raise typer.Exit(130) from None

    return wrapper


def progress_display(quiet: bool) -> Progress:
    from rich.progress import (  # only commands with a progress display load it
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TaskProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), console=err.console, disable=quiet,
        transient=False,
    )


def human_bytes(size: int | None) -> str:
    if size is None:
        return ""
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


def print_json(data) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def print_warnings(results) -> None:
    """One line on stderr per warning of each result (``video_id``, ``warnings``)."""
    for result in results:
        for warning in getattr(result, "warnings", ()):
            err.print(f"[yellow]warning:[/yellow] {result.video_id}: {warning}",
                      highlight=False)


def coloured(status: str, colours: dict[str, str], default: str = "green") -> str:
    """``status`` in its colour (rich markup)."""
    colour = colours.get(status, default)
    return f"[{colour}]{status}[/{colour}]"


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[str]],
          **column_style) -> Table:
    """A rich table with these columns (``column_style`` applies to every column)."""
    from rich.table import Table

    shown = Table(title=title)
    for column in columns:
        shown.add_column(column, **column_style)
    for row in rows:
        shown.add_row(*row)
    return shown


def exit_if_failed(failed: Sequence, message: Callable[[Any], str]) -> None:
    """One error line per failed result, then exit 1 (nothing when none failed)."""
    for result in failed:
        err.print(f"[red]error:[/red] {message(result)}", highlight=False)
    if failed:
        raise typer.Exit(1)


def selected_videos(data: Path | None, videos: list[str] | None,
                    say_when_none: bool = True) -> tuple[Path, list[Path]]:
    """The data root and the video directories named on the command line (all by default)."""
    from vabatch.dataroot import resolve_data_root, select_video_dirs  # light: no stages

    data_root = resolve_data_root(data)
    video_dirs = select_video_dirs(data_root, videos)
    if not video_dirs and say_when_none:
        err.print(f"no videos in {data_root} (add some with `vabatch ingest`)")
    return data_root, video_dirs


def one_video(data: Path | None, video: str) -> tuple[Path, Path]:
    """The data root and the one video directory named by ``video``."""
    data_root, [video_dir] = selected_videos(data, [video], say_when_none=False)
    return data_root, video_dir

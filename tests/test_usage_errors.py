"""Usage errors (unknown option or command, missing argument, bad value) are one `error:`
line naming the command's help, never a boxed panel; help texts show their defaults."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vabatch.cli import app
from vabatch.stages.ingest import IngestOptions

runner = CliRunner()


@pytest.mark.parametrize(("arguments", "message", "help_of"), [
    (["ingest", "--bogus", "x.mp4"], "No such option: --bogus", "vabatch ingest"),
    (["export"], "Missing argument", "vabatch export"),
    (["layout", "show", "some-video"], "Missing option '--out'", "vabatch layout show"),
    (["run", "--workers", "0"], "Invalid value for '--workers'", "vabatch run"),
    (["export", "xml", "--out", "out"], "format is one of srt, vtt, json", "vabatch export"),
    (["annotate", "labels", "orphans", "v", "--accept", "--drop"],
     "give --accept or --drop, not both", "vabatch annotate labels orphans"),
    (["nosuch"], "No such command 'nosuch'", "vabatch"),
])
def test_a_usage_error_is_one_line(arguments, message, help_of, data_root):
    result = runner.invoke(app, [*arguments], env={"VABATCH_DATA": str(data_root)})
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line, line
    assert line.endswith(f"(see `{help_of} --help`)"), line
    assert "╭" not in result.stderr and "│" not in result.stderr


def test_help_still_exits_0_and_no_arguments_still_show_the_help():
    assert runner.invoke(app, ["run", "--help"]).exit_code == 0
    bare = runner.invoke(app, [])
    assert bare.exit_code == 2 and "Usage" in bare.output and "error:" not in bare.output


def test_ingest_fps_help_shows_its_default():
    result = runner.invoke(app, ["ingest", "--help"], env={"COLUMNS": "200"})
    [fps_line] = [line for line in result.output.splitlines() if "--fps" in line]
    assert f"[default: ({IngestOptions().sampling.value:g})]" in fps_line, fps_line

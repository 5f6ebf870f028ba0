"""Usage errors (unknown option or command, missing argument, bad value) are one `error:`
line naming the command's help, never a boxed panel; help texts show their defaults."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from vabatch.cli import COMMANDS, GROUPS, HIDDEN, app, build_app, command_named
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


# What `vabatch WORD ...` builds (only WORD's command, vabatch/cli/__init__.py) must answer
# as the whole command line does: its help, its usage errors, the two-word commands.
LAZY_CASES = [
    *[[name, "--help"] for name in COMMANDS], ["layout", "show", "--help"],
    ["export", "dataset", "--help"], ["layout-show", "--help"], ["annotate"],
    ["annotate", "labels", "orphans", "--help"], ["train", "boundaries", "--help"],
    ["dvc", "sync", "--help"], ["verify", "--bogus"], ["layout", "show", "some-video"],
    ["export"], ["run", "--workers", "0"],
]


@pytest.mark.parametrize("arguments", LAZY_CASES, ids=" ".join)
def test_the_command_built_alone_answers_as_the_whole_command_line(arguments, data_root):
    alone = build_app(command_named(arguments))
    assert len(alone.registered_commands) + len(alone.registered_groups) < len(COMMANDS)
    env = {"VABATCH_DATA": str(data_root), "COLUMNS": "120"}
    whole, lazy = (runner.invoke(a, arguments, env=env) for a in (app, alone))
    assert (lazy.exit_code, lazy.stdout, lazy.stderr) == \
        (whole.exit_code, whole.stdout, whole.stderr)


@pytest.mark.parametrize("first", [None, "--help", "verfy", "--data"])
def test_no_command_or_an_unknown_one_builds_every_command(first):
    built = build_app(command_named([first] if first else []))
    names = {c.name for c in built.registered_commands}
    assert names == {*COMMANDS, *HIDDEN}
    assert {g.name for g in built.registered_groups} == set(GROUPS)

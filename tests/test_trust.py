"""Issue 16, sections 2 to 4: no silent pass, one line instead of a traceback, nothing
corrupt after a fault (each test is the attack, written before its fix)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from vabatch.cli import app

runner = CliRunner()


def one_error_line(result) -> str:
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    return lines[0]


# -- verify that selects no video is not a pass ----------------------------------------------
def test_verify_of_a_data_root_without_videos_is_an_error(data_root):
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(data_root)]))
    assert "no videos to verify" in line
    (data_root / "videos").mkdir()
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(data_root), "--json"]))
    assert "no videos to verify" in line


def test_verify_given_a_video_directory_as_data_root_is_an_error(ingested):
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(ingested)]))
    assert str(ingested) in line and "no videos to verify" in line


def test_verify_of_a_folder_that_is_not_a_video_is_an_error(ingested, tmp_path: Path):
    data_root = ingested.parents[2]
    shard = ingested.parent
    line = one_error_line(runner.invoke(app, ["verify", "--data", str(data_root),
                                              str(shard)]))
    assert shard.name in line


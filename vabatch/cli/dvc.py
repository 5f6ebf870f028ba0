"""``vabatch dvc ...``: the video list for dvc.yaml, tracking setup, and the commands that
dvc.yaml's stages run (parse, call, print)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vabatch.cli.common import DataOption, JsonOption, err, out, plural, print_json

ProjectOption = Annotated[Path | None, typer.Option(
    "--project", help="The DVC project (folder of dvc.yaml); default: the data root's parent.")]


def _roots(data: Path | None, project: Path | None) -> tuple[Path, Path]:
    from vabatch.api import resolve_data_root

    data_root = resolve_data_root(data)
    return data_root, (Path(project).absolute() if project else data_root.parent)


def sync(data: DataOption = None, project: ProjectOption = None,
         as_json: JsonOption = False) -> None:
    """Rewrite dvc-videos.yaml (the videos dvc.yaml loops over) from the data root."""
    from vabatch.api import sync_video_list

    data_root, project_root = _roots(data, project)
    result = sync_video_list(project_root, data_root)
    if as_json:
        print_json({"path": str(result.path), "changed": result.changed,
                    "videos": result.videos, "skipped": result.skipped})
        return
    state = "updated" if result.changed else "already up to date"
    out.print(f"{result.path}: {plural(result.videos, 'video')}, {state}")
    for video_dir, why in result.skipped.items():
        err.print(f"[yellow]skipped[/yellow] {video_dir}: {why}", highlight=False)


def setup(data: DataOption = None, project: ProjectOption = None,
          commit: Annotated[bool, typer.Option(
              "--commit/--no-commit", help="Record the videos whose databases all exist "
                                           "(`dvc commit`), human edits included.")] = True,
          as_json: JsonOption = False) -> None:
    """Set up DVC versioning for an existing data folder (idempotent): dvc init, dvc.yaml,
    dvc-videos.yaml, .gitignore and .dvcignore, and a commit of what is there."""
    from vabatch.api import setup_tracking

    data_root, project_root = _roots(data, project)
    result = setup_tracking(project_root, data_root, commit)
    if as_json:
        print_json(result.to_json())
        return
    out.print(f"DVC project {result.project_root}: {plural(result.videos, 'video')} listed"
              + (", dvc init done" if result.initialised else "")
              + (", dvc.yaml written" if result.pipeline_written else ""))
    for name, lines in result.ignore_lines_added.items():
        if lines:
            out.print(f"{name}: added {', '.join(lines)}", highlight=False)
    if result.committed:
        out.print("recorded the data as it is (dvc commit videos)")
    elif commit:
        out.print(f"{plural(len(result.left_for_repro), 'video')} "
                  f"{'lacks' if len(result.left_for_repro) == 1 else 'lack'} databases: "
                  "run `dvc repro`")
    for video_dir, why in result.skipped.items():
        err.print(f"[yellow]skipped[/yellow] {video_dir}: {why}", highlight=False)
    out.print("next: git add dvc.yaml dvc.lock dvc-videos.yaml .gitignore .dvcignore "
              "&& git commit, then dvc push")


def ingest(data: DataOption = None, project: ProjectOption = None,
           as_json: JsonOption = False) -> None:
    """dvc.yaml's ingest step: rebuild a listed video's missing video.db from its stored
    source, byte for byte as it was first made (videos already ingested are left alone)."""
    from vabatch.api import ingest_missing

    data_root, project_root = _roots(data, project)
    statuses = ingest_missing(project_root, data_root)
    if as_json:
        print_json(statuses)
        return
    rebuilt = [v for v, s in statuses.items() if s != "unchanged"]
    out.print(f"ingest: {plural(len(statuses), 'listed video')}, {len(rebuilt)} video.db "
              "rebuilt"
              + (f" ({', '.join(rebuilt)})" if rebuilt else ""), highlight=False)

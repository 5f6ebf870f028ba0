"""What one caption edit costs to share with DVC: split databases vs one monolithic file.

    /work/venv/bin/python bench/versioning_bench.py [--videos 10] [--seconds 30]

A corpus of ``--videos`` synthetic 1280x720 videos with burned-in captions (testkit/corpus.py;
photo-like backgrounds), ingested at 2 frames per second and run through every stage by
vabatch: the split layout. The same rows are then written, per video, into one legacy
monolithic ``captions.db`` with the legacy schema of DESIGN.md (frames, OCR, labels, layout,
crops, captions): the layout before the split. Both are cached under bench/media/versioning/.

Each layout goes into its own git + DVC project with a local remote: the split one with
vabatch's dvc.yaml (``dvc commit``), the legacy one tracked the same way (its videos folder
as one DVC output). Both are pushed. Then one caption of one video is corrected (its text,
and ``source = 'human'`` in the split layout), the change is recorded (``dvc commit``), and
pushed again. The bytes are those of the files the second ``dvc push`` added to the remote:
exactly what it sent. The target: at least 99.5 % fewer bytes with the split layout.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MEDIA = HERE / "media" / "versioning"
BIN = Path(sys.executable).parent
DVC = [sys.executable, "-m", "dvc"]
sys.path.insert(0, str(REPO))


def env() -> dict:
    return dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
                SOURCE_DATE_EPOCH="1700000000", DVC_NO_ANALYTICS="1", GIT_AUTHOR_NAME="b",
                GIT_AUTHOR_EMAIL="b@example.com", GIT_COMMITTER_NAME="b",
                GIT_COMMITTER_EMAIL="b@example.com")


def run(cwd: Path, *command: str) -> str:
    done = subprocess.run(command, cwd=cwd, env=env(), capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def build_split(count: int, seconds: int) -> Path:
    """The corpus, ingested and processed (cached)."""
    from testkit.corpus import VideoSpec, make_video, random_captions

    data = MEDIA / f"split-{count}x{seconds}s"
    if (data / ".complete").exists():
        return data
    videos = []
    for number in range(count):
        spec = VideoSpec(f"talk{number:02d}", random_captions(seconds, 100 + number), seconds,
                         width=1280, height=720, fps=5, background="photo",
                         seed=100 + number)
        print(f"rendering {spec.name} ...", flush=True)
        videos.append(make_video(spec, MEDIA / "videos")[0])
    shutil.rmtree(data, ignore_errors=True)
    vabatch = str(BIN / "vabatch")
    print("ingesting and processing ...", flush=True)
    run(MEDIA, vabatch, "ingest", *map(str, videos), "--data", str(data), "--fps", "2",
        "--quiet", "--json")
    run(MEDIA, vabatch, "run", "--data", str(data), "--quiet", "--json")
    for leftover in data.glob("runs.db*"):
        leftover.unlink()
    (data / ".complete").write_text("")
    return data


def write_legacy(video_dir: Path, target: Path) -> None:
    """The rows of one split video directory as one legacy monolithic captions.db."""
    import apsw

    from testkit.legacy import LEGACY_SCHEMA
    from vabatch.db import VideoDatabase

    target.parent.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    out = apsw.Connection(str(target))
    for sql in LEGACY_SCHEMA.values():
        out.execute(sql)
    with VideoDatabase(video_dir) as db, out:
        q = db.execute
        for row in q("SELECT source_name, content_sha256, width, height, fps, frame_count,"
                     " duration_ms / 1000.0, ingested_at FROM video.video_metadata"):
            out.execute("INSERT INTO video_metadata VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)", row)
        for row in q("SELECT frame_index, timestamp_ms / 1000.0, image_data, width, height"
                     " FROM video.full_frames ORDER BY frame_index"):
            out.execute("INSERT INTO full_frames VALUES (?, ?, ?, ?, ?, NULL)", row)
        for row in q("SELECT frame_index, box_index, text, confidence, x, y, width, height"
                     " FROM fullOCR.full_frame_ocr ORDER BY frame_index, box_index"):
            out.execute("INSERT INTO full_frame_ocr (frame_index, box_index, text, confidence,"
                        " x, y, width, height) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
        if db.has("layout"):
            for row in q("SELECT frame_index, box_index, label, label_source, created_at FROM"
                         " layout.full_frame_box_labels ORDER BY frame_index, box_index"):
                out.execute("INSERT INTO full_frame_box_labels (frame_index, box_index, label,"
                            " label_source, created_at) VALUES (?, ?, ?, ?, ?)", row)
            for row in q("SELECT model_version, model_data, trained_at, n_training_samples,"
                         " accuracy FROM layout.box_classification_model ORDER BY id"):
                out.execute("INSERT INTO box_classification_model (model_version, model_data,"
                            " trained_at, n_training_samples, accuracy) VALUES (?, ?, ?, ?, ?)",
                            row)
            for row in q("SELECT crop_left, crop_top, crop_right, crop_bottom, anchor_type"
                         " FROM layout.video_layout_config"):
                out.execute("INSERT INTO video_layout_config VALUES (1, ?, ?, ?, ?, ?, NULL)",
                            row)
        if db.has("cropping"):
            for row in q("SELECT frame_index, image_data, crop_left, crop_top, crop_right,"
                         " crop_bottom FROM cropping.cropped_frames ORDER BY frame_index"):
                out.execute("INSERT INTO cropped_frames VALUES (?, ?, ?, ?, ?, ?, NULL)", row)
        if db.has("captions"):
            for row in q("SELECT id, start_frame_index, end_frame_index, text, boundary_state,"
                         " text_pending, created_at, updated_at FROM captions.captions"
                         " ORDER BY id"):
                out.execute("INSERT INTO captions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    out.close()


def build_legacy(split: Path) -> Path:
    from vabatch.dataroot import list_video_dirs

    data = split.with_name(split.name.replace("split", "legacy"))
    if (data / ".complete").exists():
        return data
    shutil.rmtree(data, ignore_errors=True)
    for video_dir in list_video_dirs(split):
        target = data / "videos" / video_dir.parent.name / video_dir.name / "captions.db"
        write_legacy(video_dir, target)
        source = next(video_dir.glob("source.*"))
        os.link(source, target.with_name(source.name))
    (data / ".complete").write_text("")
    return data


def remote_files(remote: Path) -> dict[str, int]:
    return {str(p.relative_to(remote)): p.stat().st_size for p in remote.rglob("*")
            if p.is_file()}


def project(name: str, data: Path, split: bool) -> tuple[Path, Path]:
    from vabatch.tools.dvc import PIPELINE_TEMPLATE, fix_ignore_files, sync_video_list

    root, remote = MEDIA / f"project-{name}", MEDIA / f"remote-{name}"
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(remote, ignore_errors=True)
    root.mkdir(parents=True)
    subprocess.run(["cp", "-a", str(data), str(root / "data")], check=True)
    (root / "data" / ".complete").unlink()
    run(root, "git", "init", "-q")
    run(root, *DVC, "init", "-q")
    run(root, *DVC, "remote", "add", "-d", "local", str(remote))
    fix_ignore_files(root)
    if split:
        (root / "dvc.yaml").write_text(PIPELINE_TEMPLATE)
        sync_video_list(root, root / "data")
        run(root, *DVC, "commit", "--force", "--quiet", "videos")
        run(root, *DVC, "repro", "--quiet")  # the export: SRT files
    else:
        run(root, *DVC, "add", "--quiet", "data/videos")
    run(root, *DVC, "push", "--quiet")
    return root, remote


def edit_one_caption(video_dir: Path, split: bool) -> tuple[str, str]:
    """Correct the text of the first caption; return (old text, new text)."""
    import apsw

    if split:
        from vabatch.db import VideoDatabase

        with VideoDatabase(video_dir, write="captions") as db, db.conn:
            caption_id, text = db.execute("SELECT id, text FROM captions.captions"
                                          " ORDER BY start_frame_index LIMIT 1").fetchall()[0]
            db.execute("UPDATE captions.captions SET text = ?, source = 'human',"
                       " updated_at = '2024-01-01T00:00:00Z' WHERE id = ?",
                       (text + " (checked)", caption_id))
        return text, text + " (checked)"
    path = video_dir / "captions.db"
    if not os.access(path, os.W_OK) or path.stat().st_nlink > 1:
        shutil.copyfile(path, path.with_name(".edit.tmp"))
        os.replace(path.with_name(".edit.tmp"), path)
    conn = apsw.Connection(str(path))
    with conn:
        caption_id, text = conn.execute("SELECT id, text FROM captions ORDER BY"
                                        " start_frame_index LIMIT 1").fetchall()[0]
        conn.execute("UPDATE captions SET text = ?, updated_at = '2024-01-01T00:00:00Z'"
                     " WHERE id = ?", (text + " (checked)", caption_id))
    conn.close()
    return text, text + " (checked)"


def measure(name: str, data: Path, split: bool, video_number: int) -> dict:
    from vabatch.dataroot import list_video_dirs

    root, remote = project(name, data, split)
    before = remote_files(remote)
    video_dir = list_video_dirs(root / "data")[video_number]
    md5s = {p.name: hashlib.md5(p.read_bytes()).hexdigest() for p in video_dir.iterdir()}
    edit_one_caption(video_dir, split)
    changed = [p.name for p in sorted(video_dir.iterdir())
               if hashlib.md5(p.read_bytes()).hexdigest() != md5s.get(p.name)]
    if split:  # as a user would: dvc repro (vabatch finds nothing to redo; re-exports)
        output = run(root, *DVC, "repro")
        assert "Running stage 'export'" in output, output
    else:
        run(root, *DVC, "add", "--quiet", "data/videos")
    run(root, *DVC, "push", "--quiet")
    after = remote_files(remote)
    sent = {path: size for path, size in after.items() if path not in before}
    manifest = sum(size for path, size in sent.items() if path.endswith(".dir"))
    export_dir = root / "data" / "export"
    export = {hashlib.md5(p.read_bytes()).hexdigest() for p in export_dir.rglob("*")
              if p.is_file()} if export_dir.exists() else set()
    export_bytes = sum(size for path, size in sent.items()
                       if path.replace("/", "")[-32:] in export)
    corpus = sum(p.stat().st_size for p in (root / "data" / "videos").rglob("*")
                 if p.is_file() and not p.name.startswith("source."))
    return {"layout": name, "changed_files": changed, "bytes_pushed": sum(sent.values()),
            "of_which_dir_manifest": manifest, "of_which_export_files": export_bytes,
            "objects_pushed": len(sent), "sent": sent,
            "database_bytes_in_corpus": corpus}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--seconds", type=int, default=30)
    args = parser.parse_args()
    if args.videos < 10:
        parser.error("--videos: at least 10")
    split = build_split(args.videos, args.seconds)
    legacy = build_legacy(split)
    results = [measure("split", split, True, args.videos // 2),
               measure("legacy", legacy, False, args.videos // 2)]
    for r in results:
        print(f"{r['layout']:6s}: one caption edited -> changed {', '.join(r['changed_files'])};"
              f" dvc push sent {r['bytes_pushed']:,} bytes in {r['objects_pushed']} objects"
              f" (directory manifests {r['of_which_dir_manifest']:,} bytes, SRT files"
              f" {r['of_which_export_files']:,} bytes); databases in the"
              f" corpus {r['database_bytes_in_corpus']:,} bytes")
    split_bytes, legacy_bytes = results[0]["bytes_pushed"], results[1]["bytes_pushed"]
    reduction = 100 * (1 - split_bytes / legacy_bytes)
    print(f"split layout sends {reduction:.2f} % fewer bytes "
          f"({split_bytes:,} vs {legacy_bytes:,}); target >= 99.5 %: "
          f"{'met' if reduction >= 99.5 else 'NOT met'}")
    (MEDIA / "results.json").write_text(json.dumps(
        {"videos": args.videos, "seconds": args.seconds, "results": results,
         "reduction_percent": reduction}, indent=1))


if __name__ == "__main__":
    main()

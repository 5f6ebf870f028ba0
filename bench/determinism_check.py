"""Does anything vary from run to run? Hashes of every step's output, run after run.

Three checks (docs/ocr.md, "Determinism"):

* ``pipeline``: render the video of tests/test_annotate_captions.py, ingest it at 2 fps,
  `run_video`, and print a hash of each step's output (the video file, the stored frames,
  the OCR rows, the layout labels, the cropped frames, the captions), ``--runs`` times.
* ``engine``: the default engine on every 5th frame of that video with onnxruntime
  threads 1 and 2 x OpenCV threads 1 and 2, ``--runs`` times: a hash of the boxes.
* ``models``: PP-OCRv6's detector and recogniser on fixed inputs with 1 and 2 intra-op
  threads, 3 runs each: the hashes of the raw outputs.

Run it quiet, then beside some load (e.g. two ``nice python -c "while 1: pass"``)::

    python bench/determinism_check.py pipeline --runs 4
    python bench/determinism_check.py engine --runs 2
    python bench/determinism_check.py models

Every line of one check should show the same hashes.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _hash(value) -> str:
    data = value if isinstance(value, bytes) else repr(value).encode()
    return hashlib.md5(data).hexdigest()[:10]


def pipeline_once(work: Path) -> dict:
    from tests.test_annotate_captions import known_video
    from vabatch.api import run_video
    from vabatch.db import VideoDatabase
    from vabatch.media import Sampling
    from vabatch.stages.ingest import IngestOptions, ingest_file
    from vabatch.tools.export import load_captions

    started = time.monotonic()
    video = known_video(work / "media")
    video_dir = Path(ingest_file(video, work / "data",
                                 IngestOptions(Sampling("fps", 2.0))).video_dir)
    assert run_video(video_dir, work / "data").ok
    queries = {
        "frames": "SELECT frame_index, image_data FROM full_frames ORDER BY 1",
        "ocr": "SELECT * FROM fullOCR.full_frame_ocr ORDER BY frame_index, box_index",
        "labels": "SELECT * FROM layout.full_frame_box_labels ORDER BY 1, 2",
        "crops": "SELECT frame_index, image_data FROM cropping.cropped_frames ORDER BY 1",
    }
    found = {"video": _hash(video.read_bytes())}
    with VideoDatabase(video_dir) as db:
        found |= {name: _hash(db.execute(sql).fetchall()) for name, sql in queries.items()}
    captions = [caption.text for caption in load_captions(video_dir)[1]]
    return found | {"captions": _hash(captions), "texts": captions,
                    "seconds": round(time.monotonic() - started, 1)}


def check_engine(runs: int) -> None:
    import cv2

    from tests.test_annotate_captions import known_video
    from vabatch.ocr_engines import create_engine

    with tempfile.TemporaryDirectory() as work:
        capture = cv2.VideoCapture(str(known_video(Path(work))))
        frames = []
        while (frame := capture.read())[0]:
            frames.append(frame[1])
    frames = frames[::5]
    print(f"{len(frames)} frames, pixels {_hash(b''.join(f.tobytes() for f in frames))}")
    default = cv2.getNumThreads()
    for run in range(runs):
        for threads in (1, 2):
            for cv_threads in sorted({1, default}):
                cv2.setNumThreads(cv_threads)
                engine = create_engine("ppocr6", threads=threads)
                boxes = [engine.read(frame) for frame in frames]
                print(f"run {run} onnxruntime {threads} opencv {cv_threads}: "
                      f"{sum(map(len, boxes))} boxes {_hash(boxes)}", flush=True)
    cv2.setNumThreads(default)


def check_models() -> None:
    import numpy as np
    import onnxruntime as ort

    from vabatch.ocr_engines.ppocr6 import DETECTOR, RECOGNIZER, packaged_model

    rng = np.random.default_rng(0)
    inputs = {DETECTOR: rng.normal(0, 1, (1, 3, 352, 640)).astype(np.float32),
              RECOGNIZER: rng.normal(0, 1, (1, 3, 48, 320)).astype(np.float32)}
    for model, given in inputs.items():
        for threads in (1, 2):
            options = ort.SessionOptions()  # as RapidOCR 3.10 builds them
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(packaged_model(model)), options,
                                           providers=["CPUExecutionProvider"])
            name = session.get_inputs()[0].name
            hashes = {_hash(session.run(None, {name: given})[0].tobytes()) for _ in range(3)}
            print(f"{model} intra-op threads {threads}: {sorted(hashes)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("check", choices=("pipeline", "engine", "models"))
    parser.add_argument("--runs", type=int, default=4)
    args = parser.parse_args()
    if args.check == "models":
        check_models()
    elif args.check == "engine":
        check_engine(args.runs)
    else:
        for run in range(args.runs):
            with tempfile.TemporaryDirectory() as work:
                print(run, pipeline_once(Path(work)), flush=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Set up DVC versioning for an existing vabatch data folder; safe to run again.

    scripts/setup-dvc-tracking.py [--data DATA_ROOT] [--project PROJECT] [--no-commit]

The same as ``vabatch dvc setup`` (see docs/dvc.md): ``dvc init`` if needed, vabatch's
dvc.yaml if the project has none, dvc-videos.yaml from the data folder, the SQLite sidecar,
temporary and partial-file patterns in .gitignore and .dvcignore, and ``dvc commit`` of the
data as it is (human edits included) when every video has all its databases.
"""

import sys

from vabatch.cli import main

if __name__ == "__main__":
    sys.argv = ["vabatch", "dvc", "setup", *sys.argv[1:]]
    main()

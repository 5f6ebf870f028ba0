"""Test videos, corpora, legacy files and helpers shared by ``tests/`` and ``bench/``.

Everything here builds real data for the tests and benchmarks: tiny lavfi videos
(``videos``), synthetic videos with burned-in captions and their reference SRT
(``corpus``), whole looks of such videos drawn at random per seed for the held-out
benchmark (``looks``), legacy monolithic ``captions.db`` directories (``legacy``), SQLite
helpers such as a writer killed mid-commit (``databases``), and the caption scoring of the
extraction benchmark (``scoring``: ``vabatch/tools/score.py`` under the bench's names). It
is not part of the installed ``vabatch`` package: pytest finds it through
``pythonpath = ["."]`` and the bench scripts put the repository root on ``sys.path``.
Nothing here imports ``tests`` or ``bench``.
"""

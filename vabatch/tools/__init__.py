"""Whole-folder operations on a data root (see STYLE.md's layout): ``migrate/`` so far."""

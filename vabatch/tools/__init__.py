"""Whole-folder operations over the data root: status, verify, export, DVC, migrate."""

"""vabatch: burned-in captions to a versioned dataset of split SQLite databases."""

__version__ = "0.3.0"

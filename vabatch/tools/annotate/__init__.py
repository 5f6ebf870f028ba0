"""``vabatch annotate``: people's corrections of captions (captions.db) and box labels
(layout.db), by the edit API, the review page and subtitle or label imports."""

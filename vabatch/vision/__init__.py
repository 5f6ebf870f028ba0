"""Pure per-frame and per-span algorithms (arrays in, results out): no files, no databases.

``band_signature`` (the caption band's text mask), ``caption_spans`` (boundaries from
masks), ``layout_analysis`` (the caption band from OCR boxes), ``box_classifier`` (the
caption/noise model), ``text_cleanup`` (OCR text fixes).
"""

"""Pipeline stages: one module each, each writes only its own database.

``base`` says what a stage is; ``registry`` lists them in pipeline order. This package's
``__init__`` imports nothing, so importing one stage does not import them all.
"""

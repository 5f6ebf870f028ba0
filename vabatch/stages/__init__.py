"""Pipeline stages: one module each, each writes only its own database."""

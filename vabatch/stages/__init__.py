"""Pipeline stages: one module each, each writes only its own database."""

from dataclasses import asdict


class StageResult:
    """What every stage's result dataclass shares: ``status`` 'failed' is the only failure,
    and the JSON form is its fields (an ``extra`` dict, when it has one, is merged in)."""

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def to_json(self) -> dict:
        fields = asdict(self)
        extra = fields.pop("extra", None) or {}
        return fields | extra

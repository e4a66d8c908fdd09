"""The base of every /api/v1 body model: strings a store cannot hold are refused first.

FastAPI parses these bodies with the standard library's JSON reader, which, unlike orjson,
accepts lone surrogates ("\\ud800") as well as NUL ("\\u0000"). Either would fail later, in
the store (PostgreSQL text cannot hold NUL; no UTF-8 encoder writes a lone surrogate) or in
the answer, as a 500. The check runs on the whole body before any field is read, so the
refusal names the field's path from the body's root.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, model_validator

from shoptrack.collector.limits import check_storable


class StoredBody(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _storable_strings(cls, data: Any) -> Any:
        # A ShoptrackError, not a ValueError: pydantic lets it through, and the app's handler
        # answers it as every other 400 (field and message), not as a validation list.
        # Only the fields the model reads: an undeclared one is ignored, never stored, so
        # refusing it would refuse a body the schema allows.
        if isinstance(data, dict):
            check_storable({k: v for k, v in data.items() if k in cls.model_fields})
        else:
            check_storable(data)
        return data

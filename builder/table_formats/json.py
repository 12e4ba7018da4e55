"""The table as JSON (docs/compatibility.json): the model's own ``to_json``, sorted, deterministic."""

from __future__ import annotations

import json

from ..table import Table


def to_json(table: Table) -> str:
    return json.dumps(table.to_json(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"

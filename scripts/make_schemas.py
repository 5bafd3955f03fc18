"""Write schemas/*.json from the typed records, or check that the committed files match them.

    python scripts/make_schemas.py           # rewrite schemas/
    python scripts/make_schemas.py --check   # exit 1 and name each stale file; write nothing

The models are the source of truth; the JSON Schema files are what other tools read (a
dashboard, a validator in another language). Change a model, then run this and commit both.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from servegate.core.names import (
    DECISION_SCHEMA_VERSION,
    HISTORY_SCHEMA_VERSION,
    RUN_SCHEMA_VERSION,
)
from servegate.history.format import CONTRACT_COLUMNS, HISTORY_DTYPES, HistoryRow, column_kind
from servegate.records.run import RunRecord
from servegate.report.decision import decision_json_schema

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"


def _history_columns() -> dict[str, Any]:
    fields = HistoryRow.model_fields
    return {
        "title": "eval/reports/aggregate_history.csv",
        "description": (
            "One row per run and load level, rebuilt from the run folders. Empty cell: no "
            "value; 'inf': a percentile among failed requests; booleans are true/false. "
            "The header is exactly these columns; every row's schema_version is "
            "x-schema-version. pandas_dtype: what servegate.read_history gives each column."
        ),
        "x-schema-version": HISTORY_SCHEMA_VERSION,
        "columns": [
            {
                "name": name,
                "dtype": column_kind(name),
                "pandas_dtype": dtype,
                "contract": name in CONTRACT_COLUMNS,
                **({"description": fields[name].description} if fields[name].description else {}),
            }
            for name, dtype in HISTORY_DTYPES.items()
        ],
    }


def _with_version(schema: dict[str, Any], version: int, title: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "x-schema-version": version,
        **{k: v for k, v in schema.items() if k != "title"},
    }


def expected() -> dict[str, str]:
    """File name -> the text it should hold."""
    docs = {
        "run.schema.json": _with_version(
            RunRecord.model_json_schema(), RUN_SCHEMA_VERSION, "run.json"
        ),
        "decision.schema.json": _with_version(
            decision_json_schema(), DECISION_SCHEMA_VERSION, "decision JSON"
        ),
        "history.columns.json": _history_columns(),
    }
    return {name: json.dumps(doc, indent=2, sort_keys=True) + "\n" for name, doc in docs.items()}


def stale(folder: Path = SCHEMAS) -> list[str]:
    """The schema files in ``folder`` that are missing or differ from the models."""
    out = []
    for name, text in expected().items():
        path = folder / name
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare only; write nothing")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale()
        for name in bad:
            print(f"schemas/{name} is out of date: run python scripts/make_schemas.py")
        return 1 if bad else 0
    SCHEMAS.mkdir(exist_ok=True)
    for name, text in expected().items():
        (SCHEMAS / name).write_text(text, encoding="utf-8")
        print(f"wrote schemas/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

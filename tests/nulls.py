"""`null_paths`: where a served document contains `null` (it never should)."""

from __future__ import annotations


def null_paths(value: object, path: str = "$") -> list[str]:
    """JSONPath-like locations of every None in `value`, at any depth."""
    if value is None:
        return [path]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in null_paths(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in null_paths(v, f"{path}[{i}]")]
    return []

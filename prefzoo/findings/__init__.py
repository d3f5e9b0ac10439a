"""Reproductions of published findings on prefzoo's worlds (docs/findings.md)."""

"""The ``otel`` fixture (in-memory span exporter and metric reader) for every test here."""

from tests.support.otel import otel

__all__ = ["otel"]

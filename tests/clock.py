"""Kept for old import paths: the clock lives in :mod:`tests.support.clock`."""

from __future__ import annotations

from tests.support.clock import ManualClock

__all__ = ["ManualClock"]

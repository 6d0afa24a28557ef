"""Helpers shared by the test suite: factories, polling, processes."""

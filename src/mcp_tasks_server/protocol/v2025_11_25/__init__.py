"""The 2025-11-25 tasks era (SEP-1686): middleware, ``tasks/*`` methods, channels."""

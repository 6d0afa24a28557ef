"""Pure: the task model and its state machine, lifecycle changes, errors, owner binding.

No I/O and no SDK: every layer above builds on these.
"""

"""Helpers shared by the test suite (and the benchmarks): one copy of each.

`factories` (store and service assembly), `clock` (ManualClock), `polling`
(waiting on a condition with a deadline), `processes` (ports, child
processes, skipping a missing server), `results` (tool results), `wire`
(the protocol literals, written out on the test side), `held_tools` (a task
server whose tools run until released and report how they ended),
`disconnects` (a create held open while its client goes away).
"""

"""Execution inside one replica: where and how a task runs.

The runner (local execution) behind the :class:`~.execution.Execution` seam,
the heartbeat and leases, the sweepers, the task context, and
:class:`~.service.TaskService`, the operations every era offers.
"""

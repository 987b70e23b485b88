"""The store: the only code that talks to Redis for task state.

``tasks`` has the ``TaskStore`` (every state change is one Lua script of
``jobsvc/scripts``).
"""

from .tasks import TaskStore

__all__ = ["TaskStore"]

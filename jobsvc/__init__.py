"""jobsvc: per-deployment job lanes on Redis and RQ.

Tasks are accepted at once, queued per deployment, run one at a time in
order (priority first), watched live, and never lost.
"""

from .errors import JobsvcError
from .model import Task
from .service import Service, connect
from .types.registry import task

__all__ = ["JobsvcError", "Service", "Task", "connect", "task"]

"""Live viewing: one reader per process fans task events and lane changes out to viewers.

``hub`` reads the streams, ``events`` is the one path a task's events take
to every viewer (SSE, WebSocket, the CLI and the Python API), ``relay``
holds a process's hub and its catch-up reads, ``sink`` writes to a
WebSocket viewer's socket without blocking.
"""

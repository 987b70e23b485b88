"""The processes jobsvc runs, and the passes they make over the store.

Each module is one process or one pass: ``worker`` (RQ workers), ``scheduler``
(rq-scheduler with the periodic jobs), ``up`` (`jobsvc up` and `jobsvc web`),
``gunicorn_conf`` (the web server's settings), ``redis_server`` (a Redis of our
own), and the passes ``reconcile``, ``retention``, ``drain`` and ``check``.
"""

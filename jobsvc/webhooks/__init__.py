"""Webhooks: subscriptions from configuration, deliveries written by the Lua
transitions themselves (an outbox), sent by ``jobsvc deliverer``.

``config`` parses the subscriptions, ``model`` renders a delivery and its
signed body, ``sender`` makes one HTTP attempt, ``deliverer`` is the process.
"""

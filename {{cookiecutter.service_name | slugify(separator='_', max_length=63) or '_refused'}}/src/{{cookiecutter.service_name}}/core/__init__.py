"""The template's part of the service: settings, logs, request ids and limits, metrics, probes, JSON errors, the
WSGI entry point, and the parts the service's answers chose, such as its database or traces.

``make update`` brings these modules up to date with the template; the service's own code imports them and lives one
level up. An edit made here is merged by each update like any other, and collides where the template changes the
same lines.
"""

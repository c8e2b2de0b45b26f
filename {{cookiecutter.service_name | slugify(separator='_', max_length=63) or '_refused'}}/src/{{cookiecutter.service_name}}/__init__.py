"""{{ cookiecutter.service_name }}: a Flask microservice. The app factory is ``{{ cookiecutter.service_name }}.app.create_app``.

The modules here are the service's own; ``core/`` is the template's, which ``make update`` brings up to date.
Importing the package imports nothing else: gunicorn.conf.py reads the settings before prometheus_client may be
imported (it chooses its multiprocess mode when it is imported).
"""

"""{{ cookiecutter.service_name }}: a Flask microservice. The app factory is ``{{ cookiecutter.service_name }}.app.create_app``.

Importing the package imports nothing else: gunicorn.conf.py reads the settings before prometheus_client may be
imported (it chooses its multiprocess mode when it is imported).
"""

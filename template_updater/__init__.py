"""The updater of services generated from this template: `make update`, `make template-check`, the merge driver.

It lives in the template, not in the services: a service's Makefile fetches this package from the template its
.cruft.json names, at the version the update goes to (the newest release, or REF), makes an environment from
requirements.txt beside it, and runs ``python -m template_updater``. So the updater that runs is always the one
of the version a service moves to, and a fix to it needs no copy in every service.

Modules
-------
- ``update``: update and check (releases, cruft update, collisions, re-lock, CHANGELOG entries).
- ``pull_request``: ``make update-pr``, the update as a pull request that opens itself (the weekly workflow).
- ``fleet``: ``template-updater fleet``, every service of a monorepo updated in one command.
- ``merge``: the git merge driver for dependency lists, given to cruft's ``git apply -3``.
- ``process``: running git and commands, and ``UpdateError``, the one-line error the user sees.
"""

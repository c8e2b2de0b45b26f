"""python -m template_updater update|check|fleet|merge-dependencies: see --help of each.

Installed from the template repository (``uvx --from git+<template URL> template-updater ...``) it is the command
``template-updater``; a service's Makefile runs it as a module from the version it fetched.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from template_updater.fleet import fleet
from template_updater.merge import merge_dependencies
from template_updater.process import UpdateError
from template_updater.pull_request import pull_request
from template_updater.update import check, update

COMMANDS = {
    "update": "take the template's changes up to its newest release (or REF), merge them, re-lock",
    "pull-request": "update on the branch template-update and open or refresh its pull request (gh, GH_TOKEN)",
    "check": "exit 1, naming both commits and the releases in between, when the template has changes this service "
    "has not taken",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="template-updater", description=(__doc__ or "").strip())
    commands = parser.add_subparsers(dest="command", required=True)
    for command, summary in COMMANDS.items():
        sub = commands.add_parser(command, help=summary)
        sub.add_argument("--ref", default=None, help="template branch, tag or commit (default: the newest release)")
        sub.add_argument("--template-clone", type=Path, default=None, help="a bare clone of the template to use")
    many = commands.add_parser("fleet", help="update every service under ROOT (a monorepo), one commit each")
    many.add_argument("root", nargs="?", type=Path, default=Path(), help="the directory to search (default: here)")
    many.add_argument("--ref", default=None, help="template branch, tag or commit (default: the newest release)")
    many.add_argument(
        "--make", action="append", default=[], metavar="NAME=VALUE", help="a variable for each `make update`"
    )
    driver = commands.add_parser("merge-dependencies", help="the git merge driver: %%O %%A %%B %%P")
    for argument in ("base", "ours", "theirs", "name"):
        driver.add_argument(argument)
    args = parser.parse_args(argv)
    try:
        if args.command == "update":
            return update(args.ref or None, args.template_clone)
        if args.command == "check":
            return check(args.ref or None, args.template_clone)
        if args.command == "pull-request":
            return pull_request(args.ref or None, args.template_clone)
        if args.command == "fleet":
            return fleet(args.root, args.ref or None, args.make)
        return merge_dependencies(Path(args.base), Path(args.ours), Path(args.theirs), args.name)
    except UpdateError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""The database migrations (Alembic), run as a module (``python -m <this package>.migrate VERB``), VERB being

    upgrade            apply every migration not applied yet (the default; ``make migrate``)
    revision "what"    write a new migration from the models (``make migration MESSAGE="what"``)
    check              fail if the models hold a change that no migration makes
    downgrade REV      undo migrations down to REV (``base``: all of them)
    current            show the revision the database is at

The database is ``{{ cookiecutter.__env_prefix }}_DATABASE_URL``, as for the service. A problem is one ``ERROR:`` line
and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
from sqlalchemy.exc import SQLAlchemyError

from {{ cookiecutter.service_name }}.core.config import ConfigError
from {{ cookiecutter.service_name }}.core.db_settings import DatabaseSettings, masked

# The migrations are the service's own, beside its models, not the template's.
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


def alembic_config(settings: DatabaseSettings) -> Config:
    """Alembic's configuration, from the settings: the service has no alembic.ini to keep in step with them."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("file_template", "%%(year)d%%(month).2d%%(day).2d_%%(rev)s_%%(slug)s")
    config.attributes["settings"] = settings
    # A new migration comes out as `make lint` wants it, by the ruff of the environment that writes it (the
    # development one: an image has no ruff, and writes no migrations): without the imports it does not use (a merge
    # revision uses none), and formatted.
    ruff = Path(sys.executable).with_name("ruff")
    if ruff.is_file():
        hooks = {
            "imports": "check --quiet --exit-zero --select F401,I001 --fix REVISION_SCRIPT_FILENAME",
            "format": "format --quiet REVISION_SCRIPT_FILENAME",
        }
        config.set_section_option("post_write_hooks", "hooks", ", ".join(hooks))
        for name, options in hooks.items():
            config.set_section_option("post_write_hooks", f"{name}.type", "exec")
            config.set_section_option("post_write_hooks", f"{name}.executable", str(ruff))
            config.set_section_option("post_write_hooks", f"{name}.options", options)
    return config


def merge_heads(config: Config) -> None:
    """Join the lines of migrations, when there are two: a template update adds migrations of its own (the template's
    tables, such as idempotency_keys) after one that the service's may follow too. Alembic writes a new migration on
    one line only, so a merge revision joins them first, and is applied as every other."""
    if len(ScriptDirectory.from_config(config).get_heads()) > 1:
        command.merge(config, "heads", message="merge the template's migrations with the service's")
        command.upgrade(config, "heads")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m {{ cookiecutter.service_name }}.core.migrate",
        description="The database migrations (Alembic).",
    )
    verbs = parser.add_subparsers(dest="verb")
    verbs.add_parser("upgrade", help="apply every migration not applied yet (the default)")
    revision = verbs.add_parser("revision", help="write a new migration from the models")
    revision.add_argument("message", help="what the migration does, in a few words")
    verbs.add_parser("check", help="fail if the models hold a change that no migration makes")
    downgrade = verbs.add_parser("downgrade", help="undo migrations down to a revision")
    downgrade.add_argument("revision", help="the revision to go down to, or base")
    verbs.add_parser("current", help="show the revision the database is at")
    arguments = parser.parse_args(argv)
    try:
        settings = DatabaseSettings()
        config = alembic_config(settings)
        if arguments.verb in (None, "upgrade"):
            # Every line of migrations, should a template update have added one beside the service's (merge_heads).
            command.upgrade(config, "heads")
        elif arguments.verb == "revision":
            merge_heads(config)
            command.revision(config, message=arguments.message, autogenerate=True)
        elif arguments.verb == "check":
            command.check(config)
        elif arguments.verb == "downgrade":
            command.downgrade(config, arguments.revision)
        else:
            command.current(config)
    except ConfigError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 2
    except SQLAlchemyError as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"ERROR: the database at {masked(settings.url)} cannot be used: {reason}", file=sys.stderr)
        return 1
    except CommandError as error:
        print(f"ERROR: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The template's Jinja filters, registered by one extension (``TemplateFilters``; cookiecutter.json's
``_extensions`` names it by its first name, ``QuotedStringExtension``): ``quoted`` and ``project_directory``.

Both names and both filters must stay in every future version of this module. ``make update`` runs cruft, which
renders the service's old template commit and the new one in one Python process, and Python imports
``local_extensions`` only once: the second render gets the first render's module. A name or a filter that one
commit has and the other lacks breaks every update across them (a rename of the extension did, in the suite's
update test from an older commit).

Free-text answers (description, author) end up inside TOML, YAML, JSON and Python string literals. Jinja's
``tojson`` is not enough for TOML: it writes characters outside the Basic Multilingual Plane as surrogate
pairs (``\\ud83d\\ude00``), which TOML rejects. ``quoted`` writes one double-quoted form that all four
formats read back as the original text.
"""

from __future__ import annotations

import re

from jinja2 import Environment
from jinja2.ext import Extension

# Characters YAML and TOML both accept unescaped inside a double-quoted string. Everything else (C0 and C1
# controls, DEL, surrogates, U+FFFE/U+FFFF) is written as a \uXXXX escape, which every format understands.
_PRINTABLE_RANGES = ((0x20, 0x7E), (0xA0, 0xD7FF), (0xE000, 0xFFFD), (0x10000, 0x10FFFF))


def _is_safe(char: str) -> bool:
    code = ord(char)
    return any(low <= code <= high for low, high in _PRINTABLE_RANGES)


def quoted(value: object) -> str:
    """Return ``value`` as a double-quoted string literal valid in TOML, YAML, JSON and Python."""
    parts = ['"']
    for char in str(value):
        if char in '"\\':
            parts.append("\\" + char)
        elif _is_safe(char):
            parts.append(char)
        else:
            parts.append(f"\\u{ord(char):04x}")
    parts.append('"')
    return "".join(parts)


# Cookiecutter creates the project directory from service_name *before* the pre-gen hook checks it, and removes
# it again when the hook refuses. A name that is a path ("a/b", "x/..", "x/../.."), empty, too long or has a NUL
# would create directories elsewhere, remove the output directory or its parent, or crash: such a name becomes
# a harmless placeholder directory, which cookiecutter removes after the hook has refused the name.
_DIRECTORY_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
REFUSED_NAME_DIRECTORY = "_refused_service_name"


def project_directory(value: object) -> str:
    """``service_name`` when it can be a directory name; else a placeholder (the pre-gen hook refuses it)."""
    text = str(value)
    return text if _DIRECTORY_NAME.fullmatch(text) else REFUSED_NAME_DIRECTORY


class TemplateFilters(Extension):
    """The template's own filters: ``quoted`` (free text as a string literal) and ``project_directory``."""

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        environment.filters["quoted"] = quoted
        environment.filters["project_directory"] = project_directory


# The name cookiecutter.json has always used; see the module docstring for why it cannot change.
QuotedStringExtension = TemplateFilters

"""`make update-pr`: the update, as one pull request that opens itself and is refreshed on each run.

What the scheduled workflow (.github/workflows/template-update.yml) runs. It updates the checked-out default
branch to the template's newest release, commits the result on the branch ``template-update``, pushes it, and
opens a pull request with the files and the CHANGELOG entries in its description, or refreshes the one already
open. When the update collides, the pull request is still opened, as a draft titled as needing a person, naming
the files. It talks to GitHub through the GitHub CLI (``gh``) with the token in GH_TOKEN; without one it says
which secret to set and ends without failing, since an update is news, not a broken build.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from template_updater.process import UpdateError, git, run, short
from template_updater.update import CHANGELOG, Taken, take

BRANCH = "template-update"
TITLE_START = "Update from the template to "
SECRET = "TEMPLATE_UPDATE_TOKEN"
NO_TOKEN = (
    f"::warning::No template update pull request: GH_TOKEN is empty. Add a repository secret {SECRET} holding a "
    "fine-grained token of this repository with read and write access to contents, pull requests and workflows "
    "(the workflow's own token may not change files under .github/workflows/, which template updates do)."
)


def gh(*args: str) -> str:
    result = run(["gh", *args])
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        raise UpdateError(f"`gh {' '.join(args[:2])}` failed: {lines[-1] if lines else f'exit {result.returncode}'}")
    return result.stdout.strip()


def title(taken: Taken) -> str:
    text = f"{TITLE_START}{taken.name.removesuffix(' (REF)')} ({short(taken.new)})"
    if taken.collided:
        text += f": needs a person, {len(taken.conflicted) or len(taken.notes)} to resolve"
    return text


def body(taken: Taken) -> str:
    lines = [
        f"Takes the template's changes from commit `{short(taken.old)}` to `{short(taken.new)}`, its {taken.name} "
        f"({taken.template}).",
        "",
    ]
    if taken.releases:
        lines += ["Releases this brings:", "", *(f"- {release}" for release in taken.releases), ""]
    if taken.collided:
        lines += [
            "**Needs a person.** The template changed lines this service changed too. Both versions are kept, "
            "between conflict markers (or in a `.rej` file beside the file, for a change that could not be placed):",
            "",
            *(f"- `{name}`" for name in taken.conflicted),
            *(f"- {note}" for note in taken.notes),
            "",
            f"Check out `{BRANCH}`, keep both intents in each, remove the markers and any `.rej` file, run "
            "`make lock install test`, and push. This pull request is a draft until then.",
            "",
        ]
    lines += ["Files changed:", "", *(f"- `{name}`" for name in taken.files), ""]
    entries = [entry for entry in taken.entries if entry.strip()]
    lines += [f"The template's {CHANGELOG} entries:", "", *entries, ""] if entries else [f"No {CHANGELOG} entries.", ""]
    lines.append("Opened by `make update-pr`; its next run refreshes this pull request.")
    return "\n".join(lines) + "\n"


def remote_branch() -> str:
    """origin's update branch: "absent", "same" (it holds exactly this tree), "ours" (an older update of ours),
    or "theirs" (someone committed on it, resolving a collision perhaps: it is not overwritten)."""
    if run(["git", "fetch", "--quiet", "origin", BRANCH]).returncode != 0:
        return "absent"
    if run(["git", "diff", "--quiet", "FETCH_HEAD", "HEAD"]).returncode == 0:
        return "same"
    subject = git("log", "-1", "--format=%s", "FETCH_HEAD")
    return "ours" if subject.startswith(TITLE_START) else "theirs"


def pull_request(ref: str | None, clone: Path | None = None) -> int:
    if not os.environ.get("GH_TOKEN"):
        print(NO_TOKEN)
        return 0
    base = git("rev-parse", "--abbrev-ref", "HEAD")
    if base == "HEAD":
        raise UpdateError("the checkout is on no branch; check out the branch the pull request should go to")
    taken = take(ref, clone)
    if taken is None:
        return 0
    gh("auth", "setup-git")  # git fetches and pushes with GH_TOKEN through gh: checkout kept no credentials
    git("switch", "--quiet", "--force-create", BRANCH)
    git("add", "--all")
    git("commit", "--quiet", "--no-verify", "--message", title(taken))
    remote = remote_branch()
    if remote == "theirs":
        print(f"origin/{BRANCH} has commits of a person on it; it is left as it is, and so is its pull request.")
        return 0
    if remote == "same":
        print(f"origin/{BRANCH} already holds this update; nothing to push.")
    else:
        git("push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{BRANCH}")
    with tempfile.NamedTemporaryFile("w", suffix=".md", delete=False, encoding="utf-8") as handle:
        handle.write(body(taken))
    try:
        number = gh("pr", "list", "--head", BRANCH, "--base", base, "--state", "open", "--json", "number",
                    "--jq", ".[0].number")  # fmt: skip
        if number:
            gh("pr", "edit", number, "--title", title(taken), "--body-file", handle.name)
            if taken.collided:
                gh("pr", "ready", number, "--undo")
            print(f"Refreshed pull request #{number}: {title(taken)}")
        else:
            draft = ["--draft"] if taken.collided else []
            created = gh("pr", "create", "--base", base, "--head", BRANCH, "--title", title(taken),
                         "--body-file", handle.name, *draft)  # fmt: skip
            print(f"Opened {created or 'a pull request'}: {title(taken)}")
    finally:
        Path(handle.name).unlink()
    if taken.collided:
        print(f"The update collides in {', '.join(taken.conflicted) or 'dependency bounds'}: the pull request says so.",
              file=sys.stderr)  # fmt: skip
    return 0

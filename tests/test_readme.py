"""README.md documents the whole CLI: every command and subcommand of `edgeseg.cli.main` has a
line in the command list (the fenced block under "## Commands"), and every option of every
command appears somewhere in README.md."""

import re
from pathlib import Path

import click

from edgeseg.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
WORD = r"(?<![\w-]){}(?![\w-])"


def walk(cmd: click.Command, path: tuple[str, ...] = ()):
    """(path, command) for the command and, recursively, every visible subcommand."""
    yield path, cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd, info_name=" ".join(("edgeseg",) + path))
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is not None and not sub.hidden:
                yield from walk(sub, path + (name,))


def command_lines(text: str) -> list[str]:
    """The `edgeseg ...` lines of the first fenced block after "## Commands", comments cut off."""
    m = re.search(r"^## Commands\s*$(.*?)^```[^\n]*\n(.*?)^```", text, re.M | re.S)
    assert m, 'README.md has no fenced block under "## Commands"'
    return [ln.strip().split("#", 1)[0].strip() for ln in m.group(2).splitlines() if ln.strip().startswith("edgeseg ")]


def documented(path: tuple[str, ...], lines: list[str]) -> bool:
    """A line starts with `edgeseg <path>` (a group: with any of its subcommands), or, for
    `edgeseg devices [list | show NAME]`, starts with the parent and names the subcommand."""
    for line in lines:
        tokens = line.split()[1:]
        words = []
        for t in tokens:
            if not re.fullmatch(r"[a-z][a-z0-9-]*", t):
                break
            words.append(t)
        if tuple(words[: len(path)]) == path:
            return True
        if len(path) > 1 and tuple(words) == path[:-1]:
            rest = " ".join(tokens[len(words) :])
            if re.search(WORD.format(re.escape(path[-1])), rest):
                return True
    return False


def test_every_command_is_in_the_readme_command_list():
    lines = command_lines(README.read_text(encoding="utf-8"))
    missing = [" ".join(path) for path, _ in walk(main) if path and not documented(path, lines)]
    assert not missing, (
        'commands missing from the README\'s "## Commands" list (a line `edgeseg <command> ...`): '
        + ", ".join(f"`edgeseg {c}`" for c in missing)
    )


def test_every_option_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    missing = {}
    for path, cmd in walk(main):
        for param in cmd.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            for opt in param.opts + param.secondary_opts:
                if not re.search(WORD.format(re.escape(opt)), text):
                    missing.setdefault(" ".join(("edgeseg",) + path), []).append(opt)
    assert not missing, "options not mentioned anywhere in README.md:\n" + "\n".join(
        f"  {cmd}: {' '.join(opts)}" for cmd, opts in missing.items()
    )

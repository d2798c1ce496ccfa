"""The documentation stays true where a test can tell: every `dlcourse` command and `--flag` that README.md,
CONTRIBUTING.md, CHANGELOG.md and docs/*.md write exists in the CLI's parser, and every relative link points to a
file (and a heading) that exists."""

import pathlib
import re

import pytest

from dlcourse import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCUMENTATION = [ROOT / "README.md", ROOT / "CONTRIBUTING.md", ROOT / "CHANGELOG.md",
                 *sorted((ROOT / "docs").glob("*.md"))]
# flags of other tools that the docs name on their own, in a code span: pytest's nbval options
OTHER_TOOLS_FLAGS = {"--nbval-lax", "--nbval-current-env"}

FENCED_BLOCK = re.compile(r"^[ \t]*```[^\n]*\n(.*?)^[ \t]*```", re.S | re.M)  # indented ones too (in lists)
INLINE_CODE = re.compile(r"`([^`]+)`")
COMMAND = re.compile(r"(?<![\w./-])dlcourse[ \t]+([a-z][\w-]*)([^\n#;&|]*)")
FLAG = re.compile(r"(?<![\w-])--[a-z][\w-]*")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*$", re.M)


def subcommand_flags() -> dict[str, set[str]]:
    """{subcommand: its option strings} from the CLI's own parser."""
    parser = cli.build_parser()
    subparsers = next(action for action in parser._actions if action.choices and action.dest == "command")
    return {name: {option for action in subparser._actions for option in action.option_strings}
            for name, subparser in subparsers.choices.items()}


def code_pieces(text: str) -> list[str]:
    """Every line of the fenced code blocks, then every inline code span (whitespace collapsed)."""
    pieces = [line for block in FENCED_BLOCK.findall(text) for line in block.splitlines()]
    prose = FENCED_BLOCK.sub("", text)
    return pieces + [" ".join(span.split()) for span in INLINE_CODE.findall(prose)]


def command_problems(text: str, flags_by_command: dict[str, set[str]]) -> list[str]:
    """Each `dlcourse <command>` the text's code names that doesn't exist, and each flag that its command lacks;
    each flag in a code span of its own that no command has."""
    problems = []
    every_flag = set().union(*flags_by_command.values()) | OTHER_TOOLS_FLAGS
    for piece in code_pieces(text):
        for match in COMMAND.finditer(piece):
            command, rest = match.group(1), match.group(2)
            if command == "import":  # `from dlcourse import checks`
                continue
            if command not in flags_by_command:
                problems.append(f"unknown command `dlcourse {command}` in `{piece.strip()}`")
                continue
            problems += [f"`dlcourse {command}` has no {flag} (in `{piece.strip()}`)"
                         for flag in FLAG.findall(rest) if flag not in flags_by_command[command]]
        if piece.startswith("--"):
            problems += [f"no dlcourse command has {flag} (in `{piece}`)"
                         for flag in FLAG.findall(piece) if flag not in every_flag]
    return problems


def heading_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading: lower case, punctuation dropped, spaces to hyphens."""
    text = heading.replace("`", "").strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def link_problems(path: pathlib.Path) -> list[str]:
    """Each relative link of this Markdown file whose file, or heading, doesn't exist."""
    problems = []
    prose = INLINE_CODE.sub("", FENCED_BLOCK.sub("", path.read_text(encoding="utf-8")))
    for target in LINK.findall(prose):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        if not linked.exists():
            problems.append(f"{path.name}: link to a missing file: {target}")
        elif anchor and linked.suffix == ".md":
            headings = HEADING.findall(FENCED_BLOCK.sub("", linked.read_text(encoding="utf-8")))
            if anchor not in {heading_anchor(heading) for heading in headings}:
                problems.append(f"{path.name}: link to a missing heading: {target}")
    return problems


def test_the_documentation_files_exist():
    """The pages the README links to are there (the glob below would otherwise check nothing)."""
    names = {path.relative_to(ROOT).as_posix() for path in DOCUMENTATION}
    assert {"docs/students.md", "docs/instructors.md", "docs/grading.md", "docs/benchmarks.md",
            "docs/concepts.md"} <= names


@pytest.mark.parametrize("path", DOCUMENTATION, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_dlcourse_command_and_flag_exists(path):
    """Every `dlcourse <command> --flag` in the page's code exists in `cli.build_parser()`."""
    assert command_problems(path.read_text(encoding="utf-8"), subcommand_flags()) == []


@pytest.mark.parametrize("path", DOCUMENTATION, ids=lambda path: path.relative_to(ROOT).as_posix())
def test_every_relative_link_points_to_an_existing_file(path):
    """Every relative link of the page points to a file that exists, and to one of its headings if it names one."""
    assert link_problems(path) == []


def test_a_wrong_command_or_flag_is_reported():
    """The checker finds a flag its command lacks, another command's flag, an unknown command and a lone flag."""
    text = ("Run `dlcourse grade submissions/ --out grades/ --wrokers 2`, then\n\n```bash\n"
            "dlcourse export grades/ --format wide --out wide.csv --sandbox   # export has no sandbox\n"
            "dlcourse publish\n```\n\nand `--no-such-flag`. Fine: `from dlcourse import checks`, `--full`.\n")
    assert command_problems(text, subcommand_flags()) == [
        "`dlcourse export` has no --sandbox (in `dlcourse export grades/ --format wide --out wide.csv --sandbox   "
        "# export has no sandbox`)",
        "unknown command `dlcourse publish` in `dlcourse publish`",
        "`dlcourse grade` has no --wrokers (in `dlcourse grade submissions/ --out grades/ --wrokers 2`)",
        "no dlcourse command has --no-such-flag (in `--no-such-flag`)",
    ]


def test_a_missing_file_or_heading_is_reported(tmp_path):
    """A link to a file that isn't there, or to a heading the target lacks, is reported; good links are not."""
    (tmp_path / "other.md").write_text("# Other page\n\n## A section: `with code`\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md) [ok](other.md#a-section-with-code) [web](https://example.org/x.md)\n"
                    "[gone](missing.md) [no heading](other.md#nowhere) [here](#top)\n\n# Top\n", encoding="utf-8")
    assert link_problems(page) == ["page.md: link to a missing file: missing.md",
                                   "page.md: link to a missing heading: other.md#nowhere"]


def test_a_fenced_block_indented_in_a_list_does_not_hide_the_links_after_it(tmp_path):
    """The three backticks of an indented fence are not inline code: a broken link after the block is found."""
    page = tmp_path / "page.md"
    page.write_text("1. Run:\n\n   ```bash\n   dlcourse release\n   ```\n\n2. See [gone](missing.md).\n",
                    encoding="utf-8")
    assert link_problems(page) == ["page.md: link to a missing file: missing.md"]

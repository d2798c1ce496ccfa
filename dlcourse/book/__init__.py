"""`dlcourse book`: the course as a static web site, built offline from the student notebooks.

The site is built by Sphinx with myst-nb and sphinx-book-theme (requirements-book.txt) from a staged source
folder: the student version of every chapter (never solutions/), executed through jupyter-cache so that a
rebuild executes only the chapters whose code changed; the README as the front page (chapter map and set-up
steps); the docs/ pages, CONTRIBUTING, CHANGELOG and the data manifest. MathJax is copied in from the
django-static-mathjax wheel and the theme's assets are local, so neither building nor reading needs a network.
Everything goes under build/book/ (git-ignored): source/, html/, doctrees/, cache/ and a scratch DLCOURSE_HOME.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

from dlcourse import course

BOOK_PACKAGE_DIRECTORY = pathlib.Path(__file__).resolve().parent
REQUIRED_MODULES = {"sphinx": "Sphinx", "myst_nb": "myst-nb", "sphinx_book_theme": "sphinx-book-theme",
                    "jupyter_cache": "jupyter-cache", "mathjax": "django-static-mathjax"}
# Pages other than the chapters, by their path in the repository; the site mirrors the repository's layout so
# that the relative links between them keep working. README.md becomes the front page, index.md.
PAGES = ("README.md", "docs/students.md", "docs/instructors.md", "docs/grading.md", "docs/concepts.md",
         "docs/benchmarks.md", "CONTRIBUTING.md", "CHANGELOG.md", "datasets/README.md")
FRONT_PAGE = "README.md"
# README sections that are for contributors, left out of the front page (CONTRIBUTING.md has them).
FRONT_PAGE_SECTIONS_LEFT_OUT = ("Tests and CI",)
MARKDOWN_LINK = re.compile(r"(?<!!)\[(?P<text>[^\]]+)\]\((?P<target>[^)\s]+)\)")
MATHJAX_FILES = ("tex-mml-chtml.js", "output/chtml/fonts/woff-v2", "input/tex/extensions")


class BookError(Exception):
    """The book can't be built: a missing requirement or a failed Sphinx run, said in words."""


@dataclasses.dataclass(frozen=True)
class BookPaths:
    """Where a build keeps its staged sources, its output and its caches."""

    root: pathlib.Path

    @property
    def source(self) -> pathlib.Path:
        """The staged Sphinx source folder."""
        return self.root / "source"

    @property
    def html(self) -> pathlib.Path:
        """The built site: open html/index.html, or publish the folder as it is."""
        return self.root / "html"

    @property
    def doctrees(self) -> pathlib.Path:
        """Sphinx's pickled doctrees, for incremental rebuilds."""
        return self.root / "doctrees"

    @property
    def cache(self) -> pathlib.Path:
        """jupyter-cache's executed notebooks, keyed by their code."""
        return self.root / "cache"

    @property
    def home(self) -> pathlib.Path:
        """A scratch DLCOURSE_HOME, so that executing the chapters never touches a student's progress."""
        return self.root / "home"

    @property
    def log(self) -> pathlib.Path:
        """Sphinx's warnings of the last build."""
        return self.root / "warnings.log"

    @property
    def output(self) -> pathlib.Path:
        """Everything Sphinx printed in the last build."""
        return self.root / "sphinx-output.log"


@dataclasses.dataclass(frozen=True)
class BuildResult:
    """What a build produced and how long it took."""

    html: pathlib.Path
    seconds: float
    warnings: list[str]
    executed: dict[str, float]


def default_paths(root: pathlib.Path | None = None) -> BookPaths:
    """build/book/ in the repository."""
    return BookPaths((root or course.repository_root()) / "build" / "book")


def missing_requirements() -> list[str]:
    """The book's packages (requirements-book.txt) that aren't installed, by their PyPI names."""
    return [package for module, package in REQUIRED_MODULES.items() if importlib.util.find_spec(module) is None]


def chapter_page_name(chapter: course.Chapter) -> str:
    """The chapter's page in the site, e.g. chapters/01_neurons_and_activations.ipynb."""
    return f"chapters/{chapter.notebook_name}"


def run_it_yourself_cell(chapter: course.Chapter) -> dict:
    """The markdown cell put under a chapter's title: download the notebook, or run the course locally."""
    source = (
        ":::{admonition} Run it yourself\n"
        ":class: tip\n"
        f"This page is Chapter {chapter.number:02d} as a student gets it, executed: the exercise cells are empty, "
        "so their checks say \"not attempted\". To do the exercises, set the course up on your computer "
        "([set-up steps](../index.md#get-it-and-install-it)) and open "
        f"`chapters/{chapter.notebook_name}` in JupyterLab. "
        f"{{download}}`Download this chapter's notebook <../notebooks/{chapter.notebook_name}>` "
        "(it needs the course's `dlcourse` package and data beside it).\n"
        ":::"
    )
    return {"cell_type": "markdown", "id": "dlcourse-run-it-yourself", "metadata": {}, "source": source}


def stage_chapter(student_notebook: pathlib.Path, chapter: course.Chapter) -> str:
    """The chapter's page: its student notebook with the "Run it yourself" box under the title cell."""
    notebook = json.loads(student_notebook.read_text(encoding="utf-8"))
    notebook["cells"].insert(1, run_it_yourself_cell(chapter))
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


def drop_sections(markdown: str, titles: tuple[str, ...]) -> str:
    """The markdown without the level-2 sections whose titles are given."""
    kept, skipping = [], False
    for line in markdown.splitlines(keepends=True):
        if line.startswith("## "):
            skipping = line[3:].strip() in titles
        if not skipping:
            kept.append(line)
    return "".join(kept)


def rewrite_links(markdown: str, page: str, staged_pages: set[str]) -> str:
    """Links to pages of the site point at their staged copy; links to other repository files become code text.

    `page` and `staged_pages` are repository paths (README.md stands for the front page).
    """
    page_folder = pathlib.PurePosixPath(page).parent

    def replace(match: re.Match) -> str:
        text, target = match.group("text"), match.group("target")
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path, _, anchor = target.partition("#")
        resolved = os.path.normpath(str(page_folder / path)).replace(os.sep, "/")
        if resolved in staged_pages:
            if resolved == FRONT_PAGE:
                path = os.path.relpath("index.md", str(page_folder)).replace(os.sep, "/")
            return f"[{text}]({path}{'#' + anchor if anchor else ''})"
        return text if text.strip("`") == resolved or "`" in text else f"{text} (`{resolved}` in the repository)"

    return MARKDOWN_LINK.sub(replace, markdown)


def table_of_contents(chapters: list[course.Chapter], staged_pages: set[str]) -> str:
    """The hidden toctrees that make the site's navigation: the chapters, then the guides."""
    chapter_lines = "\n".join(chapter_page_name(chapter).removesuffix(".ipynb") for chapter in chapters)
    guide_lines = "\n".join(page.removesuffix(".md") for page in PAGES if page != FRONT_PAGE and page in staged_pages)
    return ("\n\n```{toctree}\n:hidden:\n:caption: Chapters\n\n" + chapter_lines + "\n```\n\n"
            "```{toctree}\n:hidden:\n:caption: Guides\n\n" + guide_lines + "\n```\n")


def front_page(readme: str, staged_pages: set[str], chapters: list[course.Chapter]) -> str:
    """The site's index.md: the README's landing page (chapter map, set-up steps) and the navigation."""
    text = rewrite_links(drop_sections(readme, FRONT_PAGE_SECTIONS_LEFT_OUT), FRONT_PAGE, staged_pages)
    note = ("\n:::{note}\nThis site is the course's web edition: every chapter as a student gets it, executed, with "
            "its figures. The exercises are done in JupyterLab on your own computer (below); each chapter page "
            "also links to its notebook.\n:::\n")
    first_heading_end = text.index("\n") + 1
    return text[:first_heading_end] + note + text[first_heading_end:] + table_of_contents(chapters, staged_pages)


def mathjax_directory() -> pathlib.Path:
    """MathJax 3's es5 folder inside the installed django-static-mathjax package."""
    import mathjax  # django-static-mathjax: MathJax's files as package data, no Django needed to read them

    return pathlib.Path(mathjax.__file__).resolve().parent / "static" / "mathjax" / "es5"


def write_if_changed(path: pathlib.Path, content: str | bytes) -> None:
    """Write the file only when its content differs, so that Sphinx's incremental build sees what changed."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def stage_sources(repository: pathlib.Path, source: pathlib.Path) -> list[course.Chapter]:
    """Fill the Sphinx source folder from the repository; returns the chapters staged."""
    chapters = [chapter for chapter in course.CHAPTERS if (repository / chapter_page_name(chapter)).is_file()]
    if not chapters:
        raise BookError(f"no student notebooks in {repository / 'chapters'}: run `dlcourse release` first")
    pages = {page for page in PAGES if (repository / page).is_file()}
    staged_pages = pages | {chapter_page_name(chapter) for chapter in chapters}
    wanted: set[pathlib.Path] = set()

    def put(relative: str, content: str | bytes) -> None:
        wanted.add(source / relative)
        write_if_changed(source / relative, content)

    for chapter in chapters:
        student_notebook = repository / chapter_page_name(chapter)
        put(chapter_page_name(chapter), stage_chapter(student_notebook, chapter))
        put(f"notebooks/{chapter.notebook_name}", student_notebook.read_bytes())
    for page in sorted(pages):
        text = (repository / page).read_text(encoding="utf-8")
        if page == FRONT_PAGE:
            put("index.md", front_page(text, staged_pages, chapters))
        else:
            put(page, rewrite_links(text, page, staged_pages))
    for static_file in sorted((BOOK_PACKAGE_DIRECTORY / "static").iterdir()):
        put(f"_static/{static_file.name}", static_file.read_bytes())
    mathjax = mathjax_directory()
    for relative in MATHJAX_FILES:
        files = sorted((mathjax / relative).iterdir()) if (mathjax / relative).is_dir() else [mathjax / relative]
        for file in files:
            put(f"_static/mathjax/{file.relative_to(mathjax).as_posix()}", file.read_bytes())
    for stale in [path for path in source.rglob("*") if path.is_file() and path not in wanted]:
        stale.unlink()
    return chapters


def sphinx_environment(paths: BookPaths) -> dict[str, str]:
    """The environment for Sphinx and the kernels it starts: quiet TensorFlow, a scratch course home."""
    environment = dict(os.environ)
    environment.update({"DLCOURSE_BOOK_CACHE": str(paths.cache), "DLCOURSE_BOOK_SOURCE": str(paths.source),
                        "DLCOURSE_HOME": str(paths.home),
                        "TF_CPP_MIN_LOG_LEVEL": "3", "PYDEVD_DISABLE_FILE_VALIDATION": "1"})
    environment.pop("MPLBACKEND", None)  # the kernels use the inline backend, as in JupyterLab
    return environment


ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")


def execution_failure(sphinx_output: str) -> str | None:
    """A chapter that raised while it was executed, with the cell and the error; None if Sphinx failed otherwise."""
    text = ANSI_ESCAPE.sub("", sphinx_output)
    marker = "An error occurred while executing the following cell:"
    start = text.rfind(marker)
    if start < 0:
        return None
    cell = text[start + len(marker):].split("The above exception", 1)[0]
    notebook = re.search(r"ExecutionError: (\S+\.ipynb)", text)
    name = pathlib.Path(notebook.group(1)).name if notebook else "a chapter"
    details = "\n".join(line[4:] if line.startswith("    ") else line for line in cell.strip().splitlines())
    return (f"{name} raised while it was executed (the site needs every chapter to run); the cell and its "
            f"error:\n{details}")


def executed_notebooks(sphinx_output: str) -> dict[str, float]:
    """The notebooks that this build executed (not taken from the cache), with their seconds, from Sphinx's output."""
    found = re.findall(r"(\S+\.ipynb)\S*: .*Executed notebook in ([\d.]+) seconds", sphinx_output)
    return {pathlib.Path(page).name: float(seconds) for page, seconds in found}


def build_book(paths: BookPaths | None = None, repository: pathlib.Path | None = None, *,
               clean: bool = False, jobs: int = 1) -> BuildResult:
    """Stage the sources and run Sphinx; returns where the site is, its warnings and what was executed."""
    missing = missing_requirements()
    if missing:
        raise BookError(f"the book's packages are missing ({', '.join(missing)}): "
                        "pip install -r requirements-book.txt")
    repository = repository or course.repository_root()
    paths = paths or default_paths(repository)
    if clean and paths.root.exists():
        shutil.rmtree(paths.root)
    paths.home.mkdir(parents=True, exist_ok=True)
    stage_sources(repository, paths.source)
    command = [sys.executable, "-m", "sphinx", "-b", "html", "-c", str(BOOK_PACKAGE_DIRECTORY),
               "-d", str(paths.doctrees), "-w", str(paths.log), "-j", str(jobs), "-v",
               str(paths.source), str(paths.html)]
    start = time.perf_counter()
    completed = subprocess.run(command, env=sphinx_environment(paths), capture_output=True, text=True)
    seconds = time.perf_counter() - start
    warnings = [line for line in paths.log.read_text(encoding="utf-8").splitlines() if line.strip()] \
        if paths.log.is_file() else []
    output = completed.stdout + completed.stderr
    paths.output.write_text(output, encoding="utf-8")
    if completed.returncode != 0:
        failure = execution_failure(output)
        if failure:
            raise BookError(f"Sphinx failed (exit {completed.returncode}): {failure}")
        tail = "\n".join(output.strip().splitlines()[-25:])
        raise BookError(f"Sphinx failed (exit {completed.returncode}); the end of its output:\n{tail}")
    return BuildResult(paths.html, seconds, warnings, executed_notebooks(output))

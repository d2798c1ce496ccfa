"""`dlcourse book`'s staging, without Sphinx: what goes into the site and how its links are rewritten.

The build itself (Sphinx, execution, the browser) is tested in test_book_browser.py.
"""

from __future__ import annotations

import json
import pathlib
import shutil

import pytest

from dlcourse import book, cli, course

REPOSITORY = course.repository_root()
STAGED = {"index.md", "docs/students.md", "docs/instructors.md", "docs/grading.md", "docs/concepts.md",
          "docs/benchmarks.md", "CONTRIBUTING.md", "CHANGELOG.md", "datasets/README.md"}


def staged_repository(tmp_path: pathlib.Path) -> pathlib.Path:
    """A copy of the files that the book reads: chapters/, the README, docs/ and the other pages."""
    copy = tmp_path / "repository"
    shutil.copytree(REPOSITORY / "chapters", copy / "chapters")
    for page in book.PAGES:
        (copy / page).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPOSITORY / page, copy / page)
    return copy


@pytest.fixture(scope="module")
def staged(tmp_path_factory) -> pathlib.Path:
    source = tmp_path_factory.mktemp("book") / "source"
    book.stage_sources(REPOSITORY, source)
    return source


def test_links_to_pages_of_the_site_are_kept_and_the_readme_becomes_the_front_page():
    pages = {"README.md", "docs/students.md", "chapters/01_a.ipynb"}
    text = ("[guide](students.md#faq) [home](../README.md) [ch](../chapters/01_a.ipynb) [web](https://x.org/a.md) "
            "[top](#setup) ![figure](picture.png)")
    assert book.rewrite_links(text, "docs/grading.md", pages) == (
        "[guide](students.md#faq) [home](../index.md) [ch](../chapters/01_a.ipynb) [web](https://x.org/a.md) "
        "[top](#setup) ![figure](picture.png)")


def test_links_to_repository_files_outside_the_site_become_plain_text_naming_the_file():
    text = "see [the checks](dlcourse/checks/ch01.py), [`LICENSE`](LICENSE) and [LICENSE](LICENSE)."
    assert book.rewrite_links(text, "README.md", {"README.md"}) == (
        "see the checks (`dlcourse/checks/ch01.py` in the repository), `LICENSE` and LICENSE.")


def test_drop_sections_removes_only_the_named_level_two_sections():
    markdown = "# Title\nintro\n## Keep\nkept\n### Sub\nalso kept\n## Tests and CI\ngone\n### Deeper\ngone\n## Licence\nMIT\n"
    assert book.drop_sections(markdown, ("Tests and CI",)) == (
        "# Title\nintro\n## Keep\nkept\n### Sub\nalso kept\n## Licence\nMIT\n")


def test_every_chapter_page_is_its_student_notebook_with_a_run_it_yourself_box(staged):
    for chapter in course.CHAPTERS:
        student = json.loads((REPOSITORY / "chapters" / chapter.notebook_name).read_text(encoding="utf-8"))
        page = json.loads((staged / "chapters" / chapter.notebook_name).read_text(encoding="utf-8"))
        box = page["cells"].pop(1)
        assert page == student, f"{chapter.notebook_name}: the page must be the student version, cell for cell"
        assert box["cell_type"] == "markdown" and "Run it yourself" in box["source"]
        assert f"../notebooks/{chapter.notebook_name}>`" in box["source"] and "{download}" in box["source"]
        assert student["metadata"]["dlcourse"]["generated_from"].startswith("solutions/")
        downloadable = staged / "notebooks" / chapter.notebook_name
        assert downloadable.read_bytes() == (REPOSITORY / "chapters" / chapter.notebook_name).read_bytes()


def test_no_solution_notebook_is_staged(staged):
    solutions = {path.read_bytes() for path in (REPOSITORY / "solutions").glob("*.ipynb")}
    staged_notebooks = list(staged.rglob("*.ipynb"))
    assert len(staged_notebooks) == 2 * len(course.CHAPTERS)
    assert not any(path.read_bytes() in solutions for path in staged_notebooks)
    assert not any("solutions" in path.relative_to(staged).parts for path in staged.rglob("*"))


def test_the_front_page_has_the_set_up_steps_the_chapter_map_and_the_navigation(staged):
    assert {path.relative_to(staged).as_posix() for path in staged.rglob("*.md")} == STAGED
    front = (staged / "index.md").read_text(encoding="utf-8")
    assert "## Get it and install it" in front and "pip install -r requirements.txt" in front
    assert "## Chapter map" in front and "## Tests and CI" not in front
    for chapter in course.CHAPTERS:
        assert f"(chapters/{chapter.notebook_name})" in front
        assert f"\nchapters/{chapter.notebook_name.removesuffix('.ipynb')}\n" in front, "missing from the toctree"
    assert "\ndocs/students\n" in front and "\nCONTRIBUTING\n" in front
    assert "(docs/students.md)" in front and "(LICENSE)" not in front


def test_mathjax_and_the_course_styles_are_staged_locally(staged):
    assert (staged / "_static" / "mathjax" / "tex-mml-chtml.js").stat().st_size > 500_000
    assert list((staged / "_static" / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").glob("*.woff"))
    assert {"dlcourse.css", "dlcourse.js", "favicon.svg"} <= {path.name for path in (staged / "_static").iterdir()}


def test_restaging_rewrites_only_what_changed_and_removes_pages_that_went_away(tmp_path):
    repository = staged_repository(tmp_path)
    source = tmp_path / "source"
    book.stage_sources(repository, source)
    untouched = source / "chapters" / course.CHAPTERS[0].notebook_name
    before = untouched.stat().st_mtime_ns
    (source / "old-page.md").write_text("left over from an earlier build")
    (repository / "docs" / "benchmarks.md").unlink()
    book.stage_sources(repository, source)
    assert untouched.stat().st_mtime_ns == before, "an unchanged page must keep its time stamp (incremental builds)"
    assert not (source / "old-page.md").exists() and not (source / "docs" / "benchmarks.md").exists()
    assert "benchmarks" not in (source / "index.md").read_text(encoding="utf-8").split("```{toctree}")[2]


def test_a_repository_without_student_notebooks_is_refused_with_the_fix(tmp_path):
    with pytest.raises(book.BookError, match="run `dlcourse release` first"):
        book.stage_sources(tmp_path, tmp_path / "source")


def test_executed_notebooks_are_read_from_sphinx_output():
    output = ("/x/source/chapters/02_backpropagation.ipynb: Executing notebook using local CWD [mystnb]\n"
              "/x/source/chapters/02_backpropagation.ipynb: Executed notebook in 10.16 seconds [mystnb]\n"
              "/x/source/chapters/03_sgd.ipynb: Using cached notebook: ID=3 [mystnb]\n")
    assert book.executed_notebooks(output) == {"02_backpropagation.ipynb": 10.16}


def test_missing_book_packages_get_the_install_command(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(book, "missing_requirements", lambda: ["myst-nb", "jupyter-cache"])
    assert cli.main(["book", "--output", str(tmp_path)]) == 2
    error = capsys.readouterr().err
    assert "myst-nb, jupyter-cache" in error and "pip install -r requirements-book.txt" in error
    assert not (tmp_path / "html").exists()


def test_book_jobs_must_be_positive(capsys):
    assert cli.main(["book", "--jobs", "0"]) == 2
    assert "--jobs must be at least 1" in capsys.readouterr().err


def test_a_failed_execution_is_told_as_the_chapter_its_cell_and_its_error():
    output = ("Traceback ...\n    nbclient.exceptions.CellExecutionError: An error occurred while executing the following cell:\n"
              "    ------------------\n    x = load()\n    ------------------\n\n    \x1b[31mNameError\x1b[39m: name 'load' is "
              "not defined\n\nThe above exception was the direct cause of the following exception:\n...\n"
              "myst_nb.core.execute.base.ExecutionError: /b/source/chapters/03_sgd_and_hyperparameters.ipynb\n")
    failure = book.execution_failure(output)
    assert failure.startswith("03_sgd_and_hyperparameters.ipynb raised while it was executed")
    assert "x = load()" in failure and "NameError: name 'load' is not defined" in failure
    assert book.execution_failure("Extension error: something else") is None

"""The web book, built for real and read in headless Chromium.

The module builds the whole site once (`book.build_book` into a scratch folder: every student chapter executed,
a few minutes), serves it on a free loopback port, and visits every page: each chapter shows every figure of
its executed notebook with alt text, formulas are typeset by the local MathJax, the exercise checks say "not
attempted", search finds "backpropagation" in chapter 02, no request leaves localhost, the console shows no
errors, and axe-core finds no serious or critical accessibility violation. The last test touches one chapter's
code and rebuilds: only that chapter is executed again. It needs requirements-book.txt, Playwright and Chromium,
and skips, saying which is missing.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import pathlib
import threading
import time
import urllib.parse
import urllib.request

import pytest
from browser_helpers import browser  # noqa: F401 (the headless Chromium fixture)
from test_book import staged_repository

from dlcourse import book, course

REPOSITORY = course.repository_root()
GUIDE_PAGES = [page.removesuffix(".md") + ".html" for page in book.PAGES if page != book.FRONT_PAGE]
SERIOUS_IMPACTS = ("serious", "critical")
TOUCHED_CHAPTER = course.chapter_by_id("ch02")

if book.missing_requirements():
    pytest.skip(f"the book's packages are missing ({', '.join(book.missing_requirements())}): "
                "pip install -r requirements-book.txt", allow_module_level=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The whole site, built from nothing; or, while you work on the book, an incremental build in the folder that
    $DLCOURSE_BOOK_TEST_FOLDER names (then the full-build test is skipped)."""
    reused = os.environ.get("DLCOURSE_BOOK_TEST_FOLDER")
    paths = book.BookPaths(pathlib.Path(reused) if reused else tmp_path_factory.mktemp("web-book"))
    result = book.build_book(paths)
    print(f"\nfull build: {result.seconds:.1f} s; executed: "
          + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in sorted(result.executed.items())))
    return paths, result


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    """Serves the site's folder without logging each request."""

    def log_message(self, format, *arguments):  # noqa: A002 (the base class's name)
        pass


@pytest.fixture(scope="module")
def site(built):
    """The built site on http://127.0.0.1:<free port>/."""
    paths, _ = built
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler,
                                                                                directory=str(paths.html)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


def chapter_html(chapter: course.Chapter) -> str:
    """The chapter's page in the built site, e.g. chapters/02_backpropagation.html."""
    return book.chapter_page_name(chapter).replace(".ipynb", ".html")


def wait_for_mathjax(page) -> None:
    """Wait until MathJax has typeset the page (a page without formulas doesn't load MathJax)."""
    page.evaluate("async () => { if (window.MathJax && window.MathJax.startup) await window.MathJax.startup.promise; }")


def visit(page, url: str) -> dict:
    """Open one page as a reader does and record what the tests look at."""
    page.goto(url, wait_until="load")
    wait_for_mathjax(page)
    return page.evaluate("""() => ({
        images: [...document.querySelectorAll('.cell_output img')].map(image => ({
            alt: image.getAttribute('alt') || '', loaded: image.complete && image.naturalWidth > 0,
            source: image.getAttribute('src')})),
        formulas: document.querySelectorAll('mjx-container').length,
        untypeset: [...document.querySelectorAll('.math')].filter(m => !m.querySelector('mjx-container')).length,
        mathErrors: [...document.querySelectorAll('mjx-merror')].map(e => e.getAttribute('data-mjx-error')),
        text: document.querySelector('main').innerText,
        downloads: [...document.querySelectorAll('a.download')].map(link => link.getAttribute('href')),
        links: [...document.querySelectorAll('main a')].map(link => link.getAttribute('href')),
    })""")


@pytest.fixture(scope="module")
def audit(browser, site):  # noqa: F811 (browser is the imported fixture)
    """Every page visited once: its facts, console errors, requests to other hosts and axe-core's violations."""
    from axe_playwright_python.sync_playwright import Axe

    axe = Axe()
    context = browser.new_context()
    page = context.new_page()
    console_errors, foreign_requests = [], []
    # What a reader's browser does: axe-core's own fetches of the style sheets (it resolves a CSS @import against
    # the page, not the sheet) are left out by listening only while a page loads, not while it is audited.
    listening = [True]

    def record(problem: str) -> None:
        if listening[0]:
            console_errors.append(f"{page.url}: {problem}")

    page.on("console", lambda message: record(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: record(str(error)))
    page.on("response", lambda response: record(f"{response.status} for {response.url}")
            if response.status >= 400 else None)

    def route(request_route):
        host = urllib.parse.urlsplit(request_route.request.url).hostname
        if host in ("127.0.0.1", "localhost"):
            request_route.continue_()
        else:
            foreign_requests.append(request_route.request.url)
            request_route.abort()

    context.route("**/*", route)
    pages = ["index.html", *map(chapter_html, course.CHAPTERS), *GUIDE_PAGES, "search.html"]
    facts, violations = {}, {}
    for name in pages:
        listening[0] = True
        facts[name] = visit(page, site + name)
        listening[0] = False
        result = axe.run(page)
        violations[name] = [f"{violation['impact']} {violation['id']}: {violation['help']} "
                            f"({len(violation['nodes'])}x, e.g. {violation['nodes'][0]['target']})"
                            for violation in result.response["violations"] if violation["impact"] in SERIOUS_IMPACTS]
    yield {"facts": facts, "violations": violations, "console_errors": console_errors,
           "foreign_requests": foreign_requests, "page": page}
    context.close()


def executed_notebook(paths: book.BookPaths, chapter: course.Chapter) -> dict:
    """The chapter as executed for the site: its staged page merged with its outputs in jupyter-cache."""
    import jupyter_cache
    import nbformat

    page = nbformat.read(paths.source / book.chapter_page_name(chapter), as_version=4)
    _, executed = jupyter_cache.get_cache(str(paths.cache)).merge_match_into_notebook(page)
    return executed


def image_outputs(notebook: dict) -> list[dict]:
    """Every PNG output of an executed notebook, in order."""
    return [output for cell in notebook["cells"] if cell["cell_type"] == "code"
            for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]


def test_the_full_build_executes_every_chapter_without_a_warning(built):
    if os.environ.get("DLCOURSE_BOOK_TEST_FOLDER"):
        pytest.skip("an incremental build in $DLCOURSE_BOOK_TEST_FOLDER, not a full one")
    _, result = built
    assert sorted(result.executed) == sorted(chapter.notebook_name for chapter in course.CHAPTERS)
    assert result.warnings == []


@pytest.mark.parametrize("chapter", course.CHAPTERS, ids=lambda chapter: chapter.chapter_id)
def test_every_chapter_page_shows_each_figure_of_its_notebook_with_its_alt_text(built, audit, chapter):
    paths, _ = built
    outputs = image_outputs(executed_notebook(paths, chapter))
    images = audit["facts"][chapter_html(chapter)]["images"]
    assert len(outputs) > 0 and len(images) == len(outputs), f"{len(images)} figures shown, {len(outputs)} made"
    for image, output in zip(images, outputs):
        assert image["loaded"], f"{image['source']} did not load"
        assert image["alt"] == output["metadata"]["image/png"]["alt"]


@pytest.mark.parametrize("chapter", course.CHAPTERS, ids=lambda chapter: chapter.chapter_id)
def test_every_chapter_page_typesets_its_formulas_and_shows_unattempted_checks(built, audit, chapter):
    facts = audit["facts"][chapter_html(chapter)]
    assert facts["formulas"] > 0 and facts["untypeset"] == 0
    assert facts["mathErrors"] == [], "MathJax could not typeset these formulas"
    assert "\\frac" not in facts["text"] and "$$" not in facts["text"]
    student = json.loads((REPOSITORY / "chapters" / chapter.notebook_name).read_text(encoding="utf-8"))
    for exercise_id in student["metadata"]["dlcourse"]["exercises"]:
        assert f"{exercise_id}: not attempted" in facts["text"], f"{exercise_id}'s check box is missing"
        assert f"{exercise_id}: passed" not in facts["text"]


def test_each_chapter_links_to_its_student_notebook(site, audit):
    for chapter in course.CHAPTERS:
        facts = audit["facts"][chapter_html(chapter)]
        assert "Run it yourself" in facts["text"]
        (link,) = [href for href in facts["downloads"] if href.endswith(chapter.notebook_name)]
        served = urllib.request.urlopen(urllib.parse.urljoin(f"{site}chapters/", link), timeout=30).read()
        assert served == (REPOSITORY / "chapters" / chapter.notebook_name).read_bytes()


def test_the_front_page_has_the_chapter_map_and_the_set_up_steps(audit):
    facts = audit["facts"]["index.html"]
    assert "Get it and install it" in facts["text"] and "pip install -r requirements.txt" in facts["text"]
    for chapter in course.CHAPTERS:
        assert chapter_html(chapter) in facts["links"]


def test_search_finds_backpropagation_in_chapter_02(site, audit):
    page = audit["page"]
    page.goto(site + "search.html?q=backpropagation", wait_until="load")
    page.wait_for_selector("#search-results ul.search li a", timeout=60_000)
    results = page.eval_on_selector_all("#search-results ul.search li a", "links => links.map(l => l.href)")
    assert any(result.split("#")[0].endswith("chapters/02_backpropagation.html") for result in results), results


def test_no_request_leaves_localhost_and_the_console_shows_no_error(audit):
    assert audit["foreign_requests"] == []
    assert audit["console_errors"] == [], "\n".join(audit["console_errors"])


def test_the_accessibility_audit_finds_nothing_serious_or_critical(audit):
    assert {page: found for page, found in audit["violations"].items() if found} == {}


def test_a_rebuild_after_touching_one_chapter_executes_only_that_chapter(built, tmp_path):
    paths, _ = built
    repository = staged_repository(tmp_path)
    touched = repository / "chapters" / TOUCHED_CHAPTER.notebook_name
    notebook = json.loads(touched.read_text(encoding="utf-8"))
    first_code_cell = next(cell for cell in notebook["cells"] if cell["cell_type"] == "code")
    marker = f"# touched by the rebuild test ({time.time_ns()})"  # new code each run, never in the cache
    first_code_cell["source"] = marker + "\n" + "".join(first_code_cell["source"])
    touched.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    start = time.perf_counter()
    result = book.build_book(paths, repository)
    print(f"\nrebuild after touching {TOUCHED_CHAPTER.notebook_name}: {time.perf_counter() - start:.1f} s")
    assert list(result.executed) == [TOUCHED_CHAPTER.notebook_name]
    page = (paths.html / chapter_html(TOUCHED_CHAPTER)).read_text("utf-8")
    assert marker in page


def test_a_chapter_that_raises_stops_the_build_with_its_cell_and_error(tmp_path):
    repository = tmp_path / "repository"
    (repository / "chapters").mkdir(parents=True)
    notebook = {"cells": [{"cell_type": "markdown", "id": "title", "metadata": {}, "source": "# Chapter 01"},
                          {"cell_type": "code", "id": "broken", "metadata": {}, "execution_count": None,
                           "outputs": [], "source": "raise RuntimeError('the data file is missing')"}],
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
                "nbformat": 4, "nbformat_minor": 5}
    chapter = course.CHAPTERS[0]
    (repository / "chapters" / chapter.notebook_name).write_text(json.dumps(notebook), encoding="utf-8")
    paths = book.BookPaths(tmp_path / "build")
    with pytest.raises(book.BookError, match=f"{chapter.notebook_name} raised while it was executed") as raised:
        book.build_book(paths, repository)
    message = str(raised.value)
    assert "raise RuntimeError('the data file is missing')" in message
    assert "RuntimeError: the data file is missing" in message
    assert "sphinx/builders" not in message, "Sphinx's own traceback is noise here"
    assert not (paths.html / chapter_html(chapter)).exists()

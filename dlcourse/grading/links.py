"""`dlcourse link`: nbgitpuller links that open each chapter on a JupyterHub, cloning or updating the course first.

The format is nbgitpuller's (https://nbgitpuller.readthedocs.io/en/latest/link.html):
`<hub>/hub/user-redirect/git-pull?repo=<repo>&branch=<branch>&urlpath=lab/tree/<repo folder>/chapters/<notebook>`,
each value URL-encoded. Nothing is fetched: the links are built from the arguments.
"""

from __future__ import annotations

import urllib.parse

from dlcourse import course


class LinkError(Exception):
    """A hub or repository URL that can't make a link; the message says why, in one line."""


def checked_url(url: str, what: str) -> str:
    """The URL without a trailing slash; LinkError unless it is an http(s) URL with a host."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise LinkError(f"{what} must be an http(s) URL such as https://hub.example.edu, not {url!r}")
    if parsed.query or parsed.fragment:
        raise LinkError(f"{what} must not have a query or fragment: {url!r}")
    return url.strip().rstrip("/")


def repository_folder(repository: str) -> str:
    """The folder nbgitpuller clones the repository into: its last path part, without `.git`."""
    name = urllib.parse.unquote(urllib.parse.urlsplit(repository).path.rstrip("/").rsplit("/", 1)[-1])
    name = name[:-4] if name.endswith(".git") else name
    if not name:
        raise LinkError(f"the repository URL {repository!r} names no repository")
    return name


def chapter_link(hub: str, repository: str, notebook_name: str, branch: str = "") -> str:
    """The nbgitpuller link that opens chapters/<notebook_name> of the repository in JupyterLab on the hub."""
    hub, repository = checked_url(hub, "--hub"), checked_url(repository, "--repo")
    hub = hub[: -len("/hub")] if hub.endswith("/hub") else hub
    parameters = [("repo", repository, "")]
    if branch:
        parameters.append(("branch", branch, ""))
    parameters.append(("urlpath", f"lab/tree/{repository_folder(repository)}/chapters/{notebook_name}", "/"))
    query = "&".join(f"{key}={urllib.parse.quote(value, safe=safe)}" for key, value, safe in parameters)
    return f"{hub}/hub/user-redirect/git-pull?{query}"


def chapter_links(hub: str, repository: str, branch: str = "") -> list[tuple[course.Chapter, str]]:
    """(chapter, link) for every available chapter of the course."""
    return [(chapter, chapter_link(hub, repository, chapter.notebook_name, branch))
            for chapter in course.CHAPTERS if course.is_available(chapter)]

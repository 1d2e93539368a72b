"""The README and the pages under docs/ hold together: every relative link names a file that exists, every
#anchor names a heading of its page (GitHub's slugs), and the README stays a front door, under 300 lines.

Links inside code (fenced blocks, `inline`) are text, not links, and are not checked; absolute URLs neither.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
README = REPO_ROOT / "README.md"
PAGES = [README, *sorted((REPO_ROOT / "docs").glob("*.md"))]
README_MAX_LINES = 300

FENCE = re.compile(r"^ *(```|~~~).*?^ *\1[^\n]*$", re.MULTILINE | re.DOTALL)
INLINE_CODE = re.compile(r"(`+).+?\1", re.DOTALL)
# [text](target) and ![alt](target); the target up to the first space or ")" (an optional "title" follows).
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.MULTILINE)


def prose(text: str) -> str:
    """The text with its code blocks and inline code blanked out."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation but - and _ dropped, spaces to -."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text stays
    text = re.sub(r"[`*~]|<[^>]+>", "", text)  # code and emphasis marks, HTML tags
    text = text.strip().lower()
    text = "".join(char for char in text if char.isalnum() or char in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found = set()
    for match in HEADING.finditer(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(path: Path) -> list[str]:
    return [match.group(1) for match in LINK.finditer(prose(path.read_text(encoding="utf-8")))]


def test_the_slugs_are_githubs():
    assert slug("Using the deployed stack: provisioner") == "using-the-deployed-stack-provisioner"
    assert slug("CORS, as Labellerr's browser sees it") == "cors-as-labellerrs-browser-sees-it"
    assert (
        slug("Starting an onboarding: three doors, one flow") == "starting-an-onboarding-three-doors-one-flow"
    )
    assert slug("The `provisioner` client") == "the-provisioner-client"
    assert slug("snake_case names") == "snake_case-names"


def test_code_is_not_read_as_links():
    text = "see [a](a.md)\n```bash\n[b](b.md)\n```\nand `[c](c.md)`\n"
    assert LINK.findall(prose(text)) == ["a.md"]


def test_the_readme_and_the_docs_pages_exist():
    assert README.is_file()
    assert len(PAGES) > 1, "no pages under docs/"


def test_the_readme_links_to_every_docs_page():
    linked = {(README.parent / unquote(target.split("#")[0])).resolve() for target in links(README)}
    unlinked = [page.name for page in PAGES[1:] if page.resolve() not in linked]
    assert not unlinked, f"README.md does not link to {unlinked}"


@pytest.mark.parametrize("page", PAGES, ids=[str(page.relative_to(REPO_ROOT)) for page in PAGES])
def test_every_internal_link_resolves(page: Path):
    broken = []
    for target in links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):  # https:, mailto: ...
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / unquote(path_part)).resolve() if path_part else page
        if not linked.exists():
            broken.append(f"{target}: no file {linked.relative_to(REPO_ROOT)}")
            continue
        if anchor and linked.suffix == ".md" and unquote(anchor) not in anchors(linked):
            broken.append(f"{target}: no heading with anchor #{anchor} in {linked.relative_to(REPO_ROOT)}")
        elif anchor and linked.suffix != ".md":
            broken.append(f"{target}: an anchor into {linked.name}, which has no headings to check")
    assert not broken, f"{page.relative_to(REPO_ROOT)}: " + "; ".join(broken)


def test_every_page_says_whom_it_is_for():
    for page in PAGES[1:]:
        lines = page.read_text(encoding="utf-8").splitlines()
        assert lines[0].startswith("# "), f"{page.name} starts with its title"
        assert lines[2].startswith("For "), f"{page.name}: the line after the title says who it is for"


def test_the_readme_is_a_front_door():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_MAX_LINES, f"README.md has {len(lines)} lines; at most {README_MAX_LINES - 1}"

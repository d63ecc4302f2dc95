"""The README and the guides in docs/ as people read them: a README short enough to read in two minutes, and every
link and picture in them leading to a file that is there."""

import re
from pathlib import Path

REPO = Path(__file__).parent.parent
DOCS = sorted((REPO / "docs").glob("*.md"))
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def links(path: Path) -> list[str]:
    """The targets of a Markdown file's links and pictures, outside its code blocks."""
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    return LINK.findall(text)


def test_the_readme_is_short_and_points_at_each_guide():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 120
    for name in ("guide", "command-line", "several-macs", "benchmarks", "troubleshooting"):
        assert (REPO / "docs" / f"{name}.md").is_file() and f"docs/{name}.md" in readme


def test_every_link_and_picture_in_the_readme_and_the_guides_is_there():
    missing = []
    for path in [REPO / "README.md", *DOCS]:
        for target in links(path):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue  # a web address, or a place on the same page
            if not (path.parent / target.split("#")[0]).exists():
                missing.append(f"{path.relative_to(REPO)}: {target}")
    assert missing == []
    assert links(REPO / "docs" / "guide.md")  # the check reads links at all

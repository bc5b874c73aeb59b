"""Checks that every relative link of README.md leads somewhere.

README.md is not a page of the book, so the link check of the built book
(LinkChecker, in .ci/run) does not see it. Each link that is not to the web
must name a file or folder of the repository, and an #anchor must name a
heading of the Markdown file it points to (README.md itself for a bare
#anchor), spelt as GitHub spells heading ids. Prints each broken link and
exits 1 if there is one.

Run from anywhere: python3 docs/check-readme-links.py [FILE.md ...]
"""

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# [text](target) and ![alt](target); a target has no spaces here.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`[^`]*`")


def prose_lines(path):
    """The lines outside fenced code blocks, inline code removed."""
    fenced = False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            yield number, CODE_SPAN.sub("", line)


def heading_ids(path):
    """GitHub's ids: lower case, punctuation dropped, spaces as '-', and
    '-1', '-2', … after a repeated one."""
    ids, seen = set(), {}
    for _, line in prose_lines(path):
        match = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not match:
            continue
        slug = re.sub(r"[^\w\- ]", "", match.group(1).lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        ids.add(slug if count == 0 else f"{slug}-{count}")
    return ids


def broken_links(path):
    for number, line in prose_lines(path):
        for target in LINK.findall(line):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # https:, mailto:, …
                continue
            file_part, _, anchor = target.partition("#")
            linked = (path.parent / file_part).resolve() if file_part else path
            if not linked.exists():
                yield number, target, "no such file"
            elif anchor and linked.suffix == ".md" and anchor not in heading_ids(linked):
                yield number, target, f"no heading #{anchor} in {linked.relative_to(ROOT)}"


def main(arguments):
    files = [Path(name).resolve() for name in arguments] or [ROOT / "README.md"]
    broken = 0
    for path in files:
        for number, target, why in broken_links(path):
            print(f"{path.relative_to(ROOT)}:{number}: broken link {target}: {why}")
            broken += 1
    checked = ", ".join(str(path.relative_to(ROOT)) for path in files)
    print(f"{checked}: {'no' if broken == 0 else broken} broken link(s)")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

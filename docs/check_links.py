#!/usr/bin/python3
"""Checks that the links between canal's documents lead somewhere: every relative link of
the given markdown files (outside code blocks) names a file of the tree, and an anchor
(`file.md#section`, `#section`) names a heading of that file, as GitHub spells it.

Usage: check_links.py ROOT FILE.md...  (files relative to ROOT; exit 1 on a broken link)
"""
import os
import re
import sys

LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~)")


def prose_lines(text):
    """(line number, line) of the text outside fenced code blocks."""
    inside = False
    for number, line in enumerate(text.split("\n"), 1):
        if FENCE.match(line):
            inside = not inside
            continue
        if not inside:
            yield number, line


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"`|\*|_(?=\W)|(?<=\W)_", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path):
    found = set()
    seen = {}
    with open(path, encoding="utf-8") as f:
        for _, line in prose_lines(f.read()):
            m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
            if not m:
                continue
            base = slug(m.group(1))
            n = seen.get(base, 0)
            seen[base] = n + 1
            found.add(base if n == 0 else f"{base}-{n}")
    return found


def main():
    root, docs = sys.argv[1], sys.argv[2:]
    broken = 0
    checked = 0
    for doc in docs:
        path = os.path.join(root, doc)
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for number, line in prose_lines(text):
            # Inline code may show link syntax without being a link.
            for target in LINK.findall(re.sub(r"`[^`]*`", "", line)):
                if re.match(r"^[a-z]+:", target):
                    continue  # http:, https:, mailto:
                checked += 1
                file_part, _, anchor = target.partition("#")
                where = os.path.normpath(os.path.join(os.path.dirname(path), file_part)) \
                    if file_part else path
                if not os.path.exists(where):
                    print(f"{doc}:{number}: links to {file_part}, which does not exist")
                    broken += 1
                elif anchor and where.endswith(".md") and anchor not in anchors(where):
                    print(f"{doc}:{number}: links to #{anchor} of "
                          f"{os.path.relpath(where, root)}, which has no such heading")
                    broken += 1
    print(f"{checked} links checked in {len(docs)} files, {broken} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())

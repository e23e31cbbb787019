"""Keeps the "What canal does not have" section of docs/coming-from-channels.md true.

Usage: check_absent.py ROOT

Every item of that section is a list item that carries `<!-- absent: NAME ... -->`, the
names its feature would have in canal's public headers (Channels' names). The check fails
when one of those names appears, as a whole word, in a header under
framework/include/canal/: the feature has arrived, so the item must leave the list (and
the rest of the page say how to use it). It also fails when an item carries no names, or
when the section is missing or empty, so that the check cannot pass by being skipped; and
it checks itself on a header made up to contain a listed name.

Exit status: 0 when the section is true, 1 otherwise (each problem printed).
"""

import os
import re
import sys
import tempfile

DOC = "docs/coming-from-channels.md"
HEADERS = "framework/include/canal"
SECTION = "## What canal does not have"
MARKER = re.compile(r"<!-- absent: ([^>]*?) -->")


def section_items(text):
    """The section's list items (each with its continuation lines), or None without it."""
    start = text.find("\n" + SECTION + "\n")
    if start == -1:
        return None
    body = text[start + len(SECTION) + 2:]
    end = body.find("\n## ")
    body = body if end == -1 else body[:end]
    items = []
    for line in body.splitlines():
        if line.startswith("- "):
            items.append(line)
        elif items and line.startswith("  "):
            items[-1] += "\n" + line
    return items


def names_of(items, problems):
    listed = []
    for item in items:
        markers = MARKER.findall(item)
        names = [n for m in markers for n in m.split()]
        if not names:
            first = item.splitlines()[0]
            problems.append(f"{DOC}: the item {first[:60]!r}... has no <!-- absent: NAME --> "
                            "marker: name what its feature would be called in the headers")
        listed.extend(names)
    return listed


def appearances(headers_dir, names):
    found = []
    for folder, _, files in os.walk(headers_dir):
        for name in sorted(files):
            if not name.endswith(".hpp"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                for number, line in enumerate(f, 1):
                    for listed in names:
                        if re.search(r"(?<![\w])" + re.escape(listed) + r"(?![\w])", line):
                            found.append((listed, path, number))
    return found


def check(root, headers_dir):
    problems = []
    with open(os.path.join(root, DOC), encoding="utf-8") as f:
        items = section_items(f.read())
    if not items:
        return [f"{DOC}: no '{SECTION}' section with list items"], []
    names = names_of(items, problems)
    for listed, path, number in appearances(headers_dir, names):
        problems.append(f"{os.path.relpath(path, root)}:{number}: '{listed}' is listed in "
                        f"{DOC} under '{SECTION[3:]}', but the headers have it now: take "
                        "the item out of the list and document the feature")
    return problems, names


def self_check(root, names):
    """A made-up header with the first listed name must fail the check."""
    with tempfile.TemporaryDirectory() as headers:
        with open(os.path.join(headers, "made_up.hpp"), "w", encoding="utf-8") as f:
            f.write(f"struct {names[0]} {{}};\n")
        problems, _ = check(root, headers)
    return [] if problems else [f"self-check: a header declaring '{names[0]}' was not noticed"]


def main():
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    root = sys.argv[1]
    problems, names = check(root, os.path.join(root, HEADERS))
    if names:
        problems += self_check(root, names)
    for problem in problems:
        print(problem)
    if problems:
        return 1
    print(f"{len(names)} names of absent features checked against {HEADERS}: none found")
    return 0


if __name__ == "__main__":
    sys.exit(main())

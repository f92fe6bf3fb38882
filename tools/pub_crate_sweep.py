#!/usr/bin/env python3
"""Narrows `pub` items in src/ to `pub(crate)` when nothing outside the crate
uses them (issue 13, "pub(crate) by default"). Mechanical, so it can be
redone after a merge:

1. every `pub fn/struct/enum/const/static/type/trait` in src/ whose name
   appears nowhere in tests/, benches/, fuzz/ or src/main.rs becomes
   `pub(crate)` (a name that appears is kept `pub`: conservative);
2. `cargo clippy --all-targets` is run repeatedly and every definition a
   diagnostic names or points at goes back to `pub` (re-exports, private
   types in public signatures), until no diagnostic is left to act on;
3. `cargo fix --lib` narrows methods that `unreachable_pub` now flags.

What is left (e.g. methods that become dead code once their type is
crate-private) is printed; restore those files with `git checkout`.
Run from the repository root: `python3 tools/pub_crate_sweep.py`.
"""
import glob
import json
import re
import subprocess

KINDS = r"(async fn|fn|struct|enum|const|static|type|trait|unsafe fn|const fn)"
ITEM = re.compile(r"^(\s*)pub " + KINDS + r" ([A-Za-z_][A-Za-z0-9_]*)")
NARROWED = re.compile(r"^(\s*)pub\(crate\) " + KINDS + r" ([A-Za-z_][A-Za-z0-9_]*)")


def outside_words():
    text = []
    for pattern in ["tests/**/*.rs", "benches/**/*.rs", "fuzz/**/*.rs", "src/main.rs"]:
        for f in glob.glob(pattern, recursive=True):
            text.append(open(f).read())
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", "\n".join(text)))


def rewrite(path, change):
    lines = open(path).read().split("\n")
    new = [change(i, l) for i, l in enumerate(lines)]
    if new != lines:
        open(path, "w").write("\n".join(new))
    return sum(a != b for a, b in zip(lines, new))


def narrow():
    words = outside_words()
    total = 0
    for f in glob.glob("src/**/*.rs", recursive=True):
        if f == "src/main.rs":
            continue

        def change(_, line):
            m = ITEM.match(line)
            if m and m.group(3) not in words:
                return line.replace("pub ", "pub(crate) ", 1)
            return line

        total += rewrite(f, change)
    return total


def diagnostics():
    out = subprocess.run(
        ["cargo", "clippy", "--all-targets", "--message-format=json", "-q", "--", "-D", "warnings"],
        capture_output=True,
        text=True,
    ).stdout
    for line in out.splitlines():
        try:
            m = json.loads(line)
        except ValueError:
            continue
        if m.get("reason") == "compiler-message" and m["message"]["level"] in ("error", "warning"):
            yield m["message"]


def spans(d):
    yield from d.get("spans", [])
    for c in d.get("children", []):
        yield from spans(c)


def revert_once():
    found = list(diagnostics())
    names, places = set(), {}
    for d in found:
        names |= set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", d["message"]))
        for s in spans(d):
            if s["file_name"].startswith("src/"):
                places.setdefault(s["file_name"], set()).update(
                    range(s["line_start"], s["line_end"] + 1)
                )
    total = 0
    for f in glob.glob("src/**/*.rs", recursive=True):
        lines = places.get(f, set())

        def change(i, line):
            m = NARROWED.match(line)
            if m and (m.group(3) in names or i + 1 in lines):
                return line.replace("pub(crate) ", "pub ", 1)
            return line

        total += rewrite(f, change)
    return found, total


def main():
    print("narrowed", narrow())
    while True:
        found, reverted = revert_once()
        print("diagnostics", len(found), "reverted", reverted)
        if not found or not reverted:
            break
    subprocess.run(["cargo", "fix", "--lib", "--allow-dirty", "-q"])
    left = list(diagnostics())
    for d in left:
        print(d["rendered"])
    print("left:", len(left))


if __name__ == "__main__":
    main()

"""The README and docs/ as a reader and CI meet them: the two opening commands CI runs, relative links that
resolve to a file and a heading, and the benchmark block benchmarks/peers.py rewrites."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
START, END = "<!-- benchmarks:peers:start -->", "<!-- benchmarks:peers:end -->"


def prose(text: str) -> str:
    """The text outside fenced code blocks and inline code spans (a link inside code is not a link)."""
    kept, fenced = [], False
    for line in text.split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        kept.append("" if fenced else re.sub(r"`[^`\n]*`", "code", line))
    return "\n".join(kept)


def anchors(path: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file: lower case, punctuation dropped, spaces as hyphens,
    a repeated heading numbered -1, -2 ..."""
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").split("\n"):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        heading = re.match(r"#{1,6} +(.*?) *#*$", line)
        if fenced or not heading:
            continue
        slug = re.sub(r"[^\w\- ]", "", heading.group(1).replace("`", "").strip().lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        out.add(slug if count == 0 else f"{slug}-{count}")
    return out


def broken_links(page: Path) -> list[str]:
    """Every relative link of a page whose file does not exist or whose #fragment names no heading there."""
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", prose(page.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto: ...
            continue
        name, _, fragment = target.partition("#")
        file = (page.parent / name).resolve() if name else page
        if not file.exists():
            broken.append(f"{page.name}: {target} (no such file)")
        elif fragment and (file.is_dir() or fragment not in anchors(file)):
            broken.append(f"{page.name}: {target} (no heading #{fragment} in {file.name})")
    return broken


def test_every_relative_link_of_the_readme_and_docs_resolves():
    assert len(PAGES) > 5
    assert [problem for page in PAGES for problem in broken_links(page)] == []


def test_anchors_are_githubs(tmp_path):
    page = tmp_path / "x.md"
    page.write_text("# In CI: thresholds, baselines\n## Evidence from job logs (`--runs`)\n## Notes\n"
                    "```sh\n# a comment, not a heading\n```\n## Notes\n## Against issue 13's targets\n",
                    encoding="utf-8")
    assert anchors(page) == {"in-ci-thresholds-baselines", "evidence-from-job-logs---runs", "notes", "notes-1",
                             "against-issue-13s-targets"}


def test_a_broken_file_or_anchor_is_reported(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "there.md").write_text("# There\n\n## Exit codes\n", encoding="utf-8")
    page = tmp_path / "README.md"
    page.write_text("[ok](docs/there.md#exit-codes), [self](#title), [web](https://example.com/x)\n"
                    "# Title\n"
                    "[gone](docs/gone.md) and [moved](docs/there.md#exit-code) and [lost](#nowhere)\n"
                    "```\n[in code](docs/none.md)\n```\n`[inline](docs/none.md)`\n", encoding="utf-8")
    assert broken_links(page) == ["README.md: docs/gone.md (no such file)",
                                  "README.md: docs/there.md#exit-code (no heading #exit-code in there.md)",
                                  "README.md: #nowhere (no heading #nowhere in README.md)"]


def test_the_readme_opens_with_the_demo_command_and_the_test_command_ci_runs():
    """.ci/run greps the README for its test command; the first command installs and runs the demo that
    tests/test_packaging.py runs from another directory."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pattern = re.search(r'grep -m1 -E "([^"]+)" README.md', (ROOT / ".ci" / "run").read_text()).group(1)
    found = re.findall(pattern, readme, flags=re.MULTILINE)
    assert found == ["python3 -m venv .venv && . .venv/bin/activate && bash .ci/system-deps && pip install '.[test]'"
                     " && pytest"]
    fence = readme.index("```sh\n")
    first, second = readme[fence:].split("\n")[1:3]
    assert first == ("python3 -m venv .venv && . .venv/bin/activate && pip install . "
                     "&& dupfinder demo --out dupfinder-demo")
    assert second == found[0]
    assert readme[:fence].count("```") == 0  # the first code block of the README


def test_peers_writes_its_block_into_docs_benchmarks_and_nowhere_else(tmp_path, monkeypatch):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import peers

    assert peers.DOC == ROOT / "docs" / "benchmarks.md"
    body = peers.DOC.read_text(encoding="utf-8")
    assert body.count(START) == 1 and body.count(END) == 1 and body.index(START) < body.index(END)
    for page in PAGES:
        if page != peers.DOC:
            assert START not in page.read_text(encoding="utf-8"), page
    copy = tmp_path / "benchmarks.md"
    copy.write_text(body, encoding="utf-8")
    monkeypatch.setattr(peers, "DOC", copy)
    monkeypatch.setattr(sys, "argv", ["peers.py", "--runs", "1"])
    peers.publish(argparse.Namespace(runs=1, no_readme=False), ["#### a section", "| a | table |"])
    after = copy.read_text(encoding="utf-8")
    assert after[:after.index(START)] == body[:body.index(START)]
    assert after[after.index(END):] == body[body.index(END):]
    block = after[after.index(START) + len(START):after.index(END)]
    assert block.startswith("\nRun ") and "`python benchmarks/peers.py --runs 1`" in block
    assert block.endswith("#### a section\n\n| a | table |\n")


def test_the_readme_benchmark_table_quotes_the_generated_block():
    """The README's short table repeats figures of the block benchmarks/peers.py writes: a new run of it leaves the
    README stale until the table is copied again, and this test says so."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    doc = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    block = doc[doc.index(START):doc.index(END)]
    section = readme[readme.index("**Speed and memory**"):readme.index("\n## ", readme.index("**Speed and memory**"))]
    rows = re.findall(r"^\|[^|\n]+\| ([\d.]+ s) \| ([\d.]+) \| (\d+ MB) \|$", section, flags=re.MULTILINE)
    assert len(rows) >= 5
    assert [row for row in rows if "| {} | {} | {} |".format(*row) not in block] == []
    assert re.search(r"run (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", section).group(1) == \
        re.search(r"^Run (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", block, flags=re.MULTILINE).group(1)


def test_the_held_out_figures_quoted_are_what_test_attribution_asserts():
    """The README and docs/attribution.md name the held-out set tests/test_attribution.py scores and quote what
    its run reached (REACHED, REACHED_ECE, NONE_SEPARABLE_REACHED): a new set or run changes both or neither."""
    sys.path.insert(0, str(ROOT / "tests"))
    import test_attribution as scored

    name = re.search(r'held_out="([^"]+)"', (ROOT / "tests" / "test_attribution.py").read_text()).group(1)
    for page, labels in ((ROOT / "README.md", {"given (`--writer`)": "explicit", "inferred from names and data":
                                                "inferred", "none (PostgreSQL: transactions and timing)": "none"}),
                         (ROOT / "docs" / "attribution.md", {"explicit": "explicit", "inferred": "inferred",
                                                             "none (PostgreSQL)": "none"})):
        text = page.read_text(encoding="utf-8")
        assert f"held-out set, {name}" in text or f"held-out set: {name}" in text, page
        table = text[text.index(name):]
        for label, mode in labels.items():
            cells = re.search(rf"^\| {re.escape(label)} \| ([\d,]+) \| ([\d.]+) \| ([\d.]+) \|(.*)$", table,
                              flags=re.MULTILINE)
            assert cells, (page.name, label)
            assert float(cells.group(2)) == scored.REACHED[mode], (page.name, mode)
            assert float(cells.group(3)) == scored.REACHED_ECE[mode], (page.name, mode)
            if mode == "none":
                assert f"{scored.NONE_SEPARABLE_REACHED}" in cells.group(4), page.name

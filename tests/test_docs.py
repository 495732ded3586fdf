"""The README and docs/ name only what exists: make targets, `python -m` modules, pages.

Docs rot quietly: a target is renamed, a module moves, and the page still tells a newcomer
to run it. These checks read the commands out of the code spans and code blocks of
README.md and docs/*.md and ask the Makefile (make's own database) and Python's importer.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.conftest import REPO

README = REPO / "README.md"
DOC_PAGES = sorted((REPO / "docs").glob("*.md"))
README_MAX_LINES = 200

CODE_BLOCK = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"`([^`\n]+)`")
SHELL_COMMENT = re.compile(r"(?:^|\s)#.*")
MAKE_COMMAND = re.compile(r"(?:^|[\s;&|(])make\s+([^\n;&|)]+)")
PYTHON_MODULE = re.compile(r"python3?\s+-m\s+([A-Za-z_][\w.]*)")
NOT_A_TARGET = re.compile(r"-.*|[A-Z_]+")  # an option (-j2), a placeholder (make TARGET)
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# The workshop's own notes: the repository must never send a reader to them.
WORKSHOP_NOTES = tuple(f"{name}.md" for name in ("DESIGN", "PAPER", "STYLE"))
TEXT = {".py", ".md", ".yaml", ".toml", ".txt", ".cfg"}


def code_text(markdown: str) -> list[str]:
    """Every line of code in a Markdown page, its comment cut: fenced blocks, then inline
    code spans."""
    blocks = CODE_BLOCK.findall(markdown)
    lines = [line for block in blocks for line in block.splitlines()]
    lines += CODE_SPAN.findall(CODE_BLOCK.sub("", markdown))
    return [SHELL_COMMENT.sub("", line) for line in lines]


def make_targets_named(markdown: str) -> set[str]:
    """The targets of every `make ...` command in the page's code: variables and options
    (`SCALE=smoke`, `-j2`) left out, and placeholders in capitals (`make TARGET`)."""
    targets = set()
    for line in code_text(markdown):
        for args in MAKE_COMMAND.findall(line):
            words = shlex.split(args.replace("...", ""), posix=True)
            targets |= {w for w in words if not NOT_A_TARGET.fullmatch(w) and "=" not in w}
    return targets


def modules_named(markdown: str) -> set[str]:
    return {m for line in code_text(markdown) for m in PYTHON_MODULE.findall(line)}


def makefile_targets(makefile: Path) -> set[str]:
    """Every target make knows, variables expanded (`$(PAPER_TARGETS)` gives fig7, ...):
    read from make's database, so the Makefile is read the way make reads it."""
    database = subprocess.run(
        ["make", "-pRrq", "-f", str(makefile)], capture_output=True, text=True, cwd=makefile.parent
    ).stdout
    rule = re.compile(r"^([^#\s:=][^:=]*?):(?!=)")
    return {t for line in database.splitlines() if (m := rule.match(line)) for t in m[1].split()}


def missing_targets(markdown: str, makefile: Path) -> list[str]:
    return sorted(make_targets_named(markdown) - makefile_targets(makefile))


def module_exists(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # a parent package is missing
        return False


def missing_modules(markdown: str) -> list[str]:
    return sorted(m for m in modules_named(markdown) if not module_exists(m))


def pages() -> list[Path]:
    return [README, *DOC_PAGES]


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_make_target_named_exists(page):
    assert missing_targets(page.read_text(), REPO / "Makefile") == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_python_module_named_exists(page):
    assert missing_modules(page.read_text()) == []


@pytest.mark.parametrize("page", pages(), ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_resolves(page):
    links = [link for link in LINK.findall(page.read_text()) if "://" not in link]
    assert [link for link in links if not (page.parent / link).exists()] == []


def test_every_docs_page_is_linked_from_the_readme():
    linked = {(REPO / link).resolve() for link in LINK.findall(README.read_text())}
    assert DOC_PAGES, "docs/ has no pages"
    assert [p.name for p in DOC_PAGES if p.resolve() not in linked] == []


def test_readme_stays_a_first_hour_read():
    assert len(README.read_text().splitlines()) <= README_MAX_LINES


def source_files(root: Path) -> list[Path]:
    """The repository's own text files: not hidden folders, run outputs or data."""
    outputs = {"outputs", "multirun", "stages", "reports", "data", "bench_results"}
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [d for d in subfolders if not d.startswith(".") and d not in outputs]
        files += [Path(folder, n) for n in names if Path(n).suffix in TEXT or n == "Makefile"]
    return files


def test_no_file_mentions_the_workshop_notes():
    files = source_files(REPO)
    assert README in files and REPO / "Makefile" in files
    mentions = [
        f"{f.relative_to(REPO)}: {note}"
        for f in files
        for note in WORKSHOP_NOTES
        if note in f.read_text(errors="replace")
    ]
    assert mentions == []


def test_the_checks_catch_what_does_not_exist(tmp_path):
    makefile = tmp_path / "Makefile"
    makefile.write_text("FIGS := fig1 fig2\n.PHONY: demo $(FIGS)\ndemo $(FIGS):\n\ttrue\n")
    page = (
        "Run `make demo`, then `make fig2 SCALE=smoke` and `python -m nosuch.module`.\n\n"
        "```bash\nmake nosuch          # made up; make sure is a comment\nmake -j2 fig1 fig3\n"
        "python -m json.tool\n```\n"
        "What `make TARGET` runs. "
        "Prose that says make sure is not a command.\n"
    )
    assert missing_targets(page, makefile) == ["fig3", "nosuch"]
    assert missing_modules(page) == ["nosuch.module"]


def test_the_catalogue_totals_the_docs_give_are_what_make_plan_counts(tmp_path):
    """docs/paper.md quotes `make plan`'s totals on an empty store; they drift when a target
    changes, so they are counted again here (composing every sweep's configs: ~15 s)."""
    from paper.targets import TARGETS
    from sweeps.plan import existing_runs, summary, target_jobs

    quoted = re.search(
        r"(\d[\d,]*) runs, (\d[\d,]*) distinct trainings .*?(\d[\d,]*) epochs",
        " ".join((REPO / "docs" / "paper.md").read_text().split()),
    )
    assert quoted, "docs/paper.md no longer quotes the catalogue totals"
    everything = {}
    for target in TARGETS.values():
        for job in target_jobs(target, "full"):
            everything.setdefault((job.experiment, job.overrides), job)
    totals = summary(list(everything.values()), existing_runs([tmp_path]))
    expected = [int(n.replace(",", "")) for n in quoted.groups()]
    assert [totals["runs"], totals["distinct"], totals["epochs"]] == expected

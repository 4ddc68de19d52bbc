"""The documents stay true (in the manner of Datasette's tests/test_docs.py): every program a test looks for
is in the README's table of skips, every referenced document and cited section of docs/design.md exists,
every Markdown link resolves, the README's CLI table lists every verb of the Typer app, every package is named
in the README's "What runs where" and in design.md §11, and the import graph keeps to the allowed arrows and is
the one §11 states. Settings are checked against the README by tests/test_settings.py."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_readme_names_every_program_a_test_skips_without():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = readme.split("| without | what skips |", 1)
    assert len(table) == 2, "README has no table of the programs tests skip without"
    table_text = table[1].split("\n\n", 1)[0]
    wanted: set[str] = set()
    for path in (ROOT / "tests").rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        wanted |= set(re.findall(r"""shutil\.which\(\s*["']([\w.-]+)["']""", text))
        # Programs found by a fixed path rather than on PATH (server binaries outside PATH).
        wanted |= set(re.findall(r"""Path\(\s*["'](/usr/[\w./-]+)["']""", text))
    assert wanted, "found no shutil.which() in the tests: the scan is broken"
    assert any(p.startswith("/") for p in wanted), (
        "found no program the tests find by a fixed /usr path: the scan is broken"
    )
    missing = sorted(p for p in wanted if f"`{p}`" not in table_text)
    assert not missing, f"README's table of skips does not name {missing}"


# --- every reference resolves: documents, sections, links; every CLI verb is in the README -------------

DESIGN = ROOT / "docs" / "design.md"
SCANNED_SUFFIXES = {".py", ".md", ".toml", ".sql", ".yml", ".yaml", ".mjs", ".json", ".cfg", ".txt"}
SKIPPED_DIRS = {".git", ".venv", ".jieneng", "node_modules", "__pycache__", ".pytest_cache", ".ruff_cache"}
DOC_REF = re.compile(r"\bdocs/[\w./-]+?\.md\b")
DESIGN_SECTIONS = re.compile(r"docs/design\.md\s*(§\s*\d+(?:\s*(?:,|and|&|/)\s*§?\s*\d+)*)")
OLD_CITATION = re.compile(r"\bDESIGN\s*§\s*\d+")
MD_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _source_files() -> list[Path]:
    out = []
    for path in ROOT.rglob("*"):
        rel = path.relative_to(ROOT)
        if any(part in SKIPPED_DIRS for part in rel.parts) or not path.is_file():
            continue
        if path.suffix in SCANNED_SUFFIXES and path.stat().st_size < 2_000_000:
            out.append(path)
    return out


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def design_sections() -> set[int]:
    return {int(n) for n in re.findall(r"^## (\d+)\.", DESIGN.read_text(encoding="utf-8"), flags=re.M)}


def test_design_document_keeps_the_numbered_sections_code_cites():
    """§1–§10 are the numbering of the first brief, which code cites; §11 is what each folder owns."""
    assert set(range(1, 12)) <= design_sections()


def test_every_referenced_document_exists():
    missing = []
    for path in _source_files():
        for ref in set(DOC_REF.findall(_text(path))):
            if not (ROOT / ref).is_file():
                missing.append(f"{path.relative_to(ROOT)}: {ref}")
    assert not missing, "references to documents the repository does not contain:\n" + "\n".join(
        sorted(missing)
    )


def test_every_cited_design_section_exists():
    sections = design_sections()
    bad = []
    for path in _source_files():
        for group in DESIGN_SECTIONS.findall(_text(path)):
            for n in re.findall(r"\d+", group):
                if int(n) not in sections:
                    bad.append(f"{path.relative_to(ROOT)}: docs/design.md §{n}")
    assert not bad, "citations of sections docs/design.md does not have:\n" + "\n".join(sorted(bad))


def test_no_citation_of_a_document_outside_the_repository():
    """`DESIGN §n` cited a brief the repository does not contain; cite `docs/design.md §n` instead."""
    old = []
    for path in _source_files():
        if path == Path(__file__).resolve():
            continue
        for m in OLD_CITATION.finditer(_text(path)):
            old.append(f"{path.relative_to(ROOT)}: {m.group(0)}")
    assert not old, f"{len(old)} citation(s) of DESIGN §n:\n" + "\n".join(sorted(old))


def test_every_markdown_link_resolves():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "bench").glob("*.md"))]
    broken = []
    for doc in docs:
        for target in MD_LINK.findall(_text(doc)):
            if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
                continue  # a URL or an anchor on the same page
            if not (doc.parent / target.split("#", 1)[0]).exists():
                broken.append(f"{doc.relative_to(ROOT)}: {target}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def cli_verbs() -> set[str]:
    """Every verb of the Typer app, sub-commands spelt with their group (`db migrate`, `keys create`)."""
    import typer.main

    from jieneng.cli import app

    def walk(command, prefix: str) -> set[str]:
        subs = getattr(command, "commands", None)
        if not subs:
            return {prefix}
        return set().union(*(walk(sub, f"{prefix} {name}".strip()) for name, sub in subs.items()))

    return walk(typer.main.get_command(app), "")


def _cells(row: str) -> list[str]:
    """A Markdown table row's cells; a `|` inside backticks (`keys create|list`) does not split."""
    cells, cell, in_code = [], "", False
    for ch in row:
        if ch == "`":
            in_code = not in_code
        if ch == "|" and not in_code:
            cells.append(cell)
            cell = ""
        else:
            cell += ch
    return [*cells, cell]


def readme_cli_verbs(readme: str) -> set[str]:
    """Verbs the README's CLI table lists: in each row's first cell, `jieneng a b …` and the `b`, `c|d` after it."""
    table = readme.split("| command | what it does |", 1)
    assert len(table) == 2, "README has no CLI table"
    listed: set[str] = set()
    for row in table[1].split("\n\n", 1)[0].splitlines():
        cells = _cells(row)
        if len(cells) < 3 or set(cells[1].strip()) <= {"-", " "}:
            continue
        group = None
        for chunk in re.findall(r"`([^`]+)`", cells[1]):
            words = chunk.split()
            if words and words[0] == "jieneng":
                words = words[1:]
            names = []
            for w in words:
                if w.startswith(("-", "[")) or not re.match(r"^[a-z][a-z|-]*$", w):
                    break  # options and placeholders (PATH..., DIR, Y) end the verb
                names.append(w)
            if not names:
                continue
            if group is None:
                group = names[0]
            elif names[0] != group:
                names = [group, *names]  # `push` after `jieneng dashboards build`
            for last in names[-1].split("|"):
                listed.add(" ".join([*names[:-1], last]))
    return listed


def test_readme_cli_table_lists_every_verb():
    verbs = cli_verbs()
    assert {"db migrate", "keys create", "ingest"} <= verbs, "the scan of the Typer app is broken"
    listed = readme_cli_verbs((ROOT / "README.md").read_text(encoding="utf-8"))
    missing = sorted(verbs - listed)
    assert not missing, f"README's CLI table does not list {missing}"


def test_readme_cli_table_parser_sees_groups_and_alternatives():
    readme = (
        "| command | what it does |\n|---|---|\n"
        "| `jieneng db migrate` / `db status` | x |\n"
        "| `jieneng keys create|list|revoke` | x |\n"
        "| `jieneng dashboards build [--check]` / `push` | x |\n"
        "| `jieneng score --year Y` / `score --explain ID` | x |\n"
        "| `jieneng registry import PATH...` | x |\n\n"
    )
    assert readme_cli_verbs(readme) == {
        "db migrate",
        "db status",
        "keys create",
        "keys list",
        "keys revoke",
        "dashboards build",
        "dashboards push",
        "score",
        "registry import",
    }


# --- the map names every package, and the import graph keeps to the allowed arrows ---------------------

# The layers of README "What runs where" and docs/design.md §11: each package may import only these of ours.
ALLOWED_IMPORTS: dict[str, set[str]] = {
    "jieneng": {"api", "dashboards", "ingest", "savings", "scoring", "sim", "store"},
    "api": {"savings", "scoring", "store"},
    "savings": {"scoring", "store"},
    "scoring": {"store"},
    "ingest": {"store"},
    "dashboards": {"scoring", "store"},
    "sim": {"store"},
    "store": set(),
}


def top_level_packages() -> set[str]:
    return {p.parent.name for p in ROOT.glob("*/__init__.py") if p.parent.name != "tests"}


def design_section(n: int) -> str:
    text = DESIGN.read_text(encoding="utf-8")
    return re.split(r"^## \d+\.", text, flags=re.M)[n]


def import_graph() -> dict[str, set[str]]:
    """Which of our packages each package imports: every absolute import, at module level or in a function."""
    import ast

    ours = top_level_packages()
    graph: dict[str, set[str]] = {p: set() for p in ours}
    for pkg in ours:
        for path in (ROOT / pkg).rglob("*.py"):
            for node in ast.walk(ast.parse(_text(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                graph[pkg] |= {n.split(".")[0] for n in names} & (ours - {pkg})
    return graph


def test_every_package_is_named_in_the_readme_and_design():
    packages = top_level_packages()
    assert {"store", "jieneng", "savings"} <= packages, "the scan for packages is broken"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    where = readme.split("## What runs where", 1)[1].split("\n## ", 1)[0]
    block = where.split("```", 2)[1]
    missing_readme = sorted(p for p in packages if not re.search(rf"^{p}/\s", block, flags=re.M))
    section = design_section(11)
    missing_design = sorted(p for p in packages if f"`{p}/`" not in section)
    unlayered = sorted(packages - ALLOWED_IMPORTS.keys())
    assert not missing_readme, f"README's 'What runs where' does not name {missing_readme}"
    assert not missing_design, f"docs/design.md §11 does not name {missing_design}"
    assert not unlayered, f"packages with no place in the layers (ALLOWED_IMPORTS): {unlayered}"


def test_imports_follow_the_allowed_arrows():
    graph = import_graph()
    assert "store" in graph["scoring"], "the import scan is broken"
    bad = sorted(f"{a} -> {b}" for a, deps in graph.items() for b in deps - ALLOWED_IMPORTS.get(a, set()))
    assert not bad, "imports against the arrows of README 'What runs where':\n" + "\n".join(bad)


def test_design_import_graph_is_the_measured_one():
    """The table in docs/design.md §11 says which package imports which: it must be the graph of the code."""
    stated: dict[str, set[str]] = {}
    for row in design_section(11).splitlines():
        cells = _cells(row)
        if len(cells) >= 4 and re.fullmatch(r"\s*`(\w+)`\s*", cells[1]):
            name = cells[1].strip(" `")
            stated[name] = set(re.findall(r"`(\w+)`", cells[2]))
    graph = import_graph()
    assert stated.keys() >= graph.keys(), (
        f"§11's import table has no row for {sorted(graph.keys() - stated.keys())}"
    )
    wrong = sorted(
        f"{p}: says {sorted(stated[p])}, code {sorted(graph[p])}" for p in graph if stated[p] != graph[p]
    )
    assert not wrong, "docs/design.md §11's import table differs from the code:\n" + "\n".join(wrong)


def _folder_entry(section: str, pkg: str) -> str:
    """The bullet of §11 for one package folder (from its "- **`pkg/`**" to the next bullet)."""
    m = re.search(rf"^- \*\*`{pkg}/`\*\*.*?(?=^- \*\*|^### |\Z)", section, flags=re.M | re.S)
    assert m, f"docs/design.md §11 has no bullet for {pkg}/"
    return m.group(0)


def test_design_names_every_module_and_none_that_does_not_exist():
    """§11 says "every module, by folder, with its job": each module of a package is named in its folder's
    bullet (as ``name.py`` or ``name``), and each ``*.py`` or ``folder/`` a bullet names exists there."""
    section = design_section(11)
    unnamed, absent = [], []
    for pkg in sorted(top_level_packages()):
        entry = _folder_entry(section, pkg)
        names = set(re.findall(r"`([^`\s]+)`", entry))
        modules = [p.relative_to(ROOT / pkg) for p in (ROOT / pkg).rglob("*.py") if p.name != "__init__.py"]
        assert modules, f"no modules found under {pkg}/"
        for rel in modules:
            if "node_modules" in rel.parts:
                continue
            if not ({rel.name, rel.stem, rel.as_posix()} & names):
                unnamed.append(f"{pkg}/{rel.as_posix()}")
        for name in names - {f"{pkg}/"}:
            if name.endswith(".py") and "/" not in name:
                if not any((ROOT / pkg).rglob(name)):
                    absent.append(f"{pkg}/…/{name}")
            elif name.endswith(".py") or (name.endswith("/") and name.count("/") == 1):
                # a path is the folder's own, or (another folder's module cited) the repository's
                if not ((ROOT / pkg / name).exists() or (ROOT / name).exists()):
                    absent.append(f"{pkg}/{name}")
    assert not unnamed, f"docs/design.md §11 does not name these modules: {unnamed}"
    assert not absent, f"docs/design.md §11 names what the tree does not hold: {absent}"


def test_design_names_every_module_over_400_lines():
    """§11 names each module over 400 lines with its one job; the list is the tree's, in both directions."""
    section = design_section(11)
    stated_text = section.split("Modules over 400 lines today", 1)[1].split("\n\n", 1)[0]
    stated = set(re.findall(r"`([\w/]+\.py)`", stated_text))
    skip = {".venv", "node_modules", "tests", ".git"}
    long = {
        str(p.relative_to(ROOT))
        for p in ROOT.rglob("*.py")
        if not skip & set(p.relative_to(ROOT).parts) and len(_text(p).splitlines()) > 400
    }
    assert long, "the scan for modules is broken"
    assert long <= stated, (
        f"docs/design.md §11 does not list these modules over 400 lines: {sorted(long - stated)}"
    )
    assert stated <= long, f"docs/design.md §11 lists modules not over 400 lines: {sorted(stated - long)}"

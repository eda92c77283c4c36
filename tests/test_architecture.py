"""The one-way dependency rule of DESIGN.md, checked on the source:
policies ← interpretations ← index ← bot ← (commands, portal, insights) ← server.py.
index/ never imports flask or wechatpy; policies/ and interpretations/ never import flask."""
import ast
import pathlib

from tests.conftest import ROOT

LAYERS = [["policies"], ["interpretations"], ["index"], ["bot"], ["commands", "portal", "insights"]]
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

"""The house: the library (`autoencoder`) imports neither the app (`explorer`), the developer
tools (`tools`) nor Streamlit; the app imports no tools; and no two modules import each other,
directly or round a circle (imports inside functions count: they are the usual way to hide one)."""

from __future__ import annotations

import ast

from conftest import REPO

PACKAGES = ("autoencoder", "explorer", "tools")


def module_name(path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path) -> set[str]:
    """Every module `path` imports, absolute, with relative imports resolved."""
    package = module_name(path).rsplit(".", 1)[0] if path.name != "__init__.py" else module_name(path)
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}  # `from pkg import module`
    return found


def graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    return {name: {m for m in imports_of(path) if m in modules and m != name} for name, path in modules.items()}


def test_the_library_imports_neither_the_app_nor_the_tools_nor_streamlit():
    for package in PACKAGES[:2]:
        for path in (REPO / package).rglob("*.py"):
            forbidden = {"autoencoder": ("explorer", "tools", "streamlit"), "explorer": ("tools",)}[package]
            bad = {m for m in imports_of(path) if m.split(".")[0] in forbidden}
            assert not bad, f"{path.relative_to(REPO)} imports {sorted(bad)}"


def test_no_import_circles():
    edges = graph()
    for package_name in PACKAGES:  # a package's __init__ importing its modules is not a circle
        for name in edges:
            edges[name].discard(package_name)
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> None:
        state[name] = 1
        for nxt in sorted(edges[name]):
            assert state.get(nxt) != 1, "import circle: " + " → ".join(path[path.index(nxt):] + [nxt]) \
                if nxt in path else f"import circle through {nxt}"
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[name] = 2

    for name in sorted(edges):
        if name not in state:
            visit(name, [name])


def test_the_graph_sees_real_imports():
    """The checks above would pass on an empty graph: make sure it has the edges everyone knows."""
    edges = graph()
    assert "autoencoder.models" in edges["autoencoder.codec"]
    assert "explorer.report" in edges["explorer.views"]
    assert "autoencoder.pipeline" in edges["explorer.state"]


def prior_name_comparisons(path, names: set[str]) -> list[int]:
    """Lines of `path` that compare something with a prior's name (x == "hyperprior", x in ("factorized", …))."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            constants = [e for o in operands for e in (o.elts if isinstance(o, (ast.Tuple, ast.List, ast.Set)) else [o])]
            if any(isinstance(c, ast.Constant) and c.value in names for c in constants):
                lines.append(node.lineno)
    return lines


def test_no_string_switch_on_a_prior():
    """What differs between priors is asked of the class models.PRIORS names (its streams, steps,
    words), never switched on by name, as codec.py once did with `config.prior == "hyperprior"`."""
    from autoencoder.models import PRIORS

    for package in PACKAGES:
        for path in (REPO / package).rglob("*.py"):
            where = path.relative_to(REPO)
            assert "prior ==" not in path.read_text(), where
            assert not prior_name_comparisons(path, set(PRIORS)), f"{where}:{prior_name_comparisons(path, set(PRIORS))}"

"""The package's layering, read from the source with `ast` (no import is run).

Imports go one way. ``LAYERS`` is the order, lowest first, and the one place it is written
down: a module may import modules of its own layer or of lower ones, never of a higher one,
and no set of modules may import each other in a circle (lazy imports inside functions and
`if TYPE_CHECKING:` imports count: they are dependencies all the same). A new module must be
placed in a layer here.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "edgeseg"

#: Lowest first. Names are module paths below ``edgeseg`` ("training" covers the package and
#: every module in it); ``__init__`` is the package itself (the API facade, loaded lazily).
LAYERS: tuple[tuple[str, ...], ...] = (
    (
        "version",
        "errors",
        "schemas",
        "config",
        "results",
        "stats",
        "host",
        "fileio",
        "progress",
        "nativelog",
        "interrupt",
        "runner",
        "delegates",
        "iospec",  # what a model expects and returns (the manifest's input/output rules)
    ),
    ("artifact",),  # the manifest beside every .tflite
    ("data",),
    ("models",),
    ("run",),  # a training run folder: config, checkpoints, rebuilding the model
    ("training",),
    ("runtime",),
    ("quantize",),
    ("device",),
    ("reporting",),
    ("api",),
    ("flow",),  # the quickstart, composed of API calls
    ("cli", "options", "__init__"),
)


def module_name(path: Path, root: Path) -> str:
    rel = path.relative_to(root).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts) or "__init__"


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """module -> the edgeseg modules it imports, anywhere in its body (names below ``edgeseg``)."""
    modules = {module_name(f, root): f for f in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = (
            (name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]) if name != "__init__" else []
        )
        targets: set[str] = set()

        def resolve(full: str) -> str | None:
            if full != "edgeseg" and not full.startswith("edgeseg."):
                return None
            rel = full[len("edgeseg.") :] if full != "edgeseg" else "__init__"
            while rel not in modules and "." in rel:  # `import edgeseg.x.y` where y is a name: the module is x
                rel = rel.rsplit(".", 1)[0]
            return rel if rel in modules else None

        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):  # `if TYPE_CHECKING:` imports count too: a type is a dependency
            found = []
            if isinstance(node, ast.Import):
                found = [resolve(a.name) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    mod = ".".join(["edgeseg", *base, *([node.module] if node.module else [])])
                else:
                    mod = node.module or ""
                for a in node.names:  # `from pkg import mod` imports mod; `from mod import name` imports mod
                    sub = resolve(f"{mod}.{a.name}")
                    found.append(sub if sub is not None and sub != resolve(mod) else resolve(mod))
            targets.update(t for t in found if t is not None and t != name)
        graph[name] = targets
    return graph


def layer_of(module: str, layers=LAYERS) -> int:
    for i, names in enumerate(layers):
        for n in names:
            if module == n or module.startswith(n + "."):
                return i
    raise KeyError(module)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    bad = []
    for a, targets in sorted(graph.items()):
        for b in sorted(targets):
            if layer_of(b, layers) > layer_of(a, layers):
                bad.append(f"{a} (layer {layer_of(a, layers)}) imports {b} (layer {layer_of(b, layers)})")
    return bad


def test_every_module_has_a_layer():
    missing = [m for m in import_graph() if not any(m == n or m.startswith(n + ".") for ns in LAYERS for n in ns)]
    assert not missing, f"place these modules in LAYERS (tests/unit/test_layers.py): {missing}"


def test_no_import_circles():
    found = cycles(import_graph())
    assert not found, "import circles: " + "; ".join(" <-> ".join(c) for c in found)


def test_no_import_against_the_layers():
    bad = upward_imports(import_graph())
    assert not bad, "imports against the order of layers (tests/unit/test_layers.py LAYERS):\n" + "\n".join(bad)


def test_the_checker_finds_a_circle_and_an_upward_import(tmp_path):
    """The checks themselves can fail: a package with a circle and an upward import."""
    pkg = tmp_path / "edgeseg"
    (pkg / "training").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "training" / "__init__.py").write_text("")
    (pkg / "training" / "loop.py").write_text("from ..runtime.evaluate import score\n")
    (pkg / "runtime").mkdir()
    (pkg / "runtime" / "__init__.py").write_text("")
    (pkg / "runtime" / "evaluate.py").write_text("def f():\n    from ..training.loop import g\n")
    (pkg / "errors.py").write_text("from .reporting import tables\n")
    (pkg / "reporting").mkdir()
    (pkg / "reporting" / "__init__.py").write_text("")
    (pkg / "reporting" / "tables.py").write_text("import edgeseg.errors\n")
    (pkg / "device").mkdir()
    (pkg / "device" / "__init__.py").write_text("")
    (pkg / "device" / "session.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .profiles import DeviceProfile\n"
    )
    (pkg / "device" / "profiles.py").write_text("def f():\n    from .session import TRANSPORTS\n")
    graph = import_graph(pkg)
    assert graph["device.session"] == {"device.profiles"}  # a type-only import is a dependency
    assert ["device.profiles", "device.session"] in [sorted(c) for c in cycles(graph)]
    assert graph["training.loop"] == {"runtime.evaluate"} and graph["runtime.evaluate"] == {"training.loop"}
    assert sorted(map(sorted, cycles(graph))) == [
        ["device.profiles", "device.session"],
        ["errors", "reporting.tables"],
        ["runtime.evaluate", "training.loop"],
    ]
    assert "errors (layer 0) imports reporting.tables (layer 9)" in upward_imports(graph)


@pytest.mark.parametrize(
    "module, layer", [("training.loop", "training"), ("device.power", "device"), ("__init__", "__init__")]
)
def test_layer_of_packages_and_modules(module, layer):
    assert LAYERS[layer_of(module)].count(layer) == 1

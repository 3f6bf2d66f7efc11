"""No library function over 60 statements without a comment saying why (``# long: ...``).

Statements, not lines: the formatter spreads one call over as many lines as its arguments, so a
line count measures the formatter's choices; the number of statements measures the function."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "edgeseg"
LIMIT = 60


def statements(node: ast.AST) -> int:
    """The statements in a function's body, nested blocks included (the def itself is not one)."""
    return sum(isinstance(n, ast.stmt) for n in ast.walk(node)) - 1


def long_functions_without_reason(root: Path = PACKAGE):
    bad = []
    for f in sorted(root.rglob("*.py")):
        text = f.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                count = statements(node)
                body = lines[node.lineno - 1 : node.end_lineno]
                if count > LIMIT and not any(line.strip().startswith("# long:") for line in body):
                    bad.append(f"{f.relative_to(root.parent)}:{node.lineno} {node.name} ({count} statements)")
    return bad


def test_long_functions_say_why():
    bad = long_functions_without_reason()
    assert not bad, f"functions over {LIMIT} statements with no '# long:' comment saying why:\n" + "\n".join(bad)


def test_the_check_counts_statements_and_reads_the_reason(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    body = "".join(f"    x{i} = {i}\n" for i in range(LIMIT + 1))
    (pkg / "a.py").write_text(f"def long():\n{body}\n\ndef spread():\n    f(\n" + "        1,\n" * 200 + "    )\n")
    (pkg / "b.py").write_text(f"def long_but_said():\n    # long: a table of settings\n{body}")
    assert long_functions_without_reason(pkg) == [f"pkg/a.py:1 long ({LIMIT + 1} statements)"]

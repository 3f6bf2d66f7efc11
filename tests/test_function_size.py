"""No library function over 80 lines without a comment saying why (``# long: ...``)."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "edgeseg"
LIMIT = 80


def long_functions_without_reason():
    bad = []
    for f in sorted(PACKAGE.rglob("*.py")):
        text = f.read_text()
        lines = text.splitlines()
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                body = lines[node.lineno - 1 : node.end_lineno]
                if length > LIMIT and not any(line.strip().startswith("# long:") for line in body):
                    bad.append(f"{f.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)")
    return bad


def test_long_functions_say_why():
    bad = long_functions_without_reason()
    assert not bad, f"functions over {LIMIT} lines with no '# long:' comment saying why:\n" + "\n".join(bad)

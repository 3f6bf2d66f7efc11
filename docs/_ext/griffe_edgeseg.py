"""Griffe extension for edgeseg's API reference (loaded by mkdocstrings; not part of the package).

edgeseg's config dataclasses declare their command-line options as
``name: type = option(default, "help text", ...)`` (``edgeseg.config.option``). Read statically,
such a field's value is the whole ``option(...)`` call and it has no docstring. This extension
gives the field its default as value and its help text as docstring, so the API reference shows
the same default and help as ``edgeseg COMMAND --help``.

It also turns the Sphinx roles used in a few docstrings (``:class:`~edgeseg.errors.UsageError```)
into plain Markdown code spans, which is how they read in the source.
"""

from __future__ import annotations

import ast
import re

import griffe

_LITERAL = re.compile(r"(?<=\S)::\n")
_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):`(~?)([^`]+)`")


def _text(node: ast.expr) -> str:
    """A help string's source as text: literal parts as they are, computed parts (an f-string's
    fields, a join over a table) as their expression in backticks."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_text(v) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return f"`{ast.unparse(node.value)}`"
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _text(node.left) + _text(node.right)
    return f"`{ast.unparse(node)}`"


def _role(m: re.Match) -> str:
    target = m.group(2)
    return f"`{target.rsplit('.', 1)[-1] if m.group(1) else target}`"


class OptionHelp(griffe.Extension):
    def on_attribute_instance(self, *, node, attr, agent, **kwargs) -> None:
        if not isinstance(node, ast.AnnAssign) or not isinstance(node.value, ast.Call):
            return
        call = node.value
        if not (isinstance(call.func, ast.Name) and call.func.id == "option") or not call.args:
            return
        help_node = call.args[1] if len(call.args) > 1 else None
        help_node = help_node or next((k.value for k in call.keywords if k.arg == "help"), None)
        if attr.docstring is None and help_node is not None:
            attr.docstring = griffe.Docstring(_text(help_node), lineno=node.lineno, parent=attr)
        attr.value = ast.unparse(call.args[0])

    def on_instance(self, *, node, obj, agent, **kwargs) -> None:
        if obj.docstring is not None:
            text = _ROLE.sub(_role, obj.docstring.value)
            obj.docstring.value = _LITERAL.sub(":\n", text)  # reST's "text::" before a code block

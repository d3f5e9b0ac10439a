"""Size limits (issue #11): no module of ``prefzoo`` over 400 lines, no function over 80.

Data tables count too (they may move to ``*_data`` modules, which obey the same limit). A function's
size is ``end_lineno - lineno + 1`` of its ``ast`` node (decorators not included; nested functions
count inside their parent and on their own). Fast; reads source only.
"""
from __future__ import annotations

import ast
from pathlib import Path

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80
PACKAGE = Path(__file__).resolve().parents[1] / "prefzoo"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE.parent).as_posix()


def oversized(max_module: int = MAX_MODULE_LINES, max_function: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every module over ``max_module`` lines and every function over ``max_function``, one line each."""
    found = []
    for path in _modules():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > max_module:
            found.append(f"{_name(path)}: {lines} lines (limit {max_module})")
        for node in ast.walk(ast.parse(text, filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > max_function:
                    found.append(f"{_name(path)}:{node.lineno} {node.name}(): {size} lines (limit {max_function})")
    return found


def test_package_is_found():
    assert (PACKAGE / "__init__.py").exists() and len(_modules()) > 10


def test_no_module_or_function_over_the_limits():
    found = oversized()
    assert not found, "over the size limits:\n  " + "\n  ".join(found)

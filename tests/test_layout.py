"""The shape the house style asks for: short modules, short functions, or a stated reason."""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parent.parent / "src" / "mcp_tasks_server"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
LONG_MARKER = "# long:"


def _modules() -> list[Path]:
    return sorted(SOURCE.rglob("*.py"))


def _module_reason(text: str) -> bool:
    """A longer module says why in a ``# long:`` comment among its first lines."""
    return any(line.startswith(LONG_MARKER) for line in text.splitlines()[:40])


def test_no_module_is_longer_than_400_lines_without_a_reason() -> None:
    too_long = {
        str(path.relative_to(SOURCE)): lines
        for path in _modules()
        if (lines := len((text := path.read_text()).splitlines())) > MAX_MODULE_LINES
        and not _module_reason(text)
    }
    assert too_long == {}


def _unexplained_long_functions(text: str) -> list[str]:
    """Functions over the limit whose header (def line to body) carries no ``# long:``."""
    lines = text.splitlines()
    found = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        assert node.end_lineno is not None
        length = node.end_lineno - node.lineno + 1
        header = lines[node.lineno - 1 : node.body[0].lineno - 1] or [lines[node.lineno - 1]]
        if length > MAX_FUNCTION_LINES and not any(LONG_MARKER in line for line in header):
            found.append(f"{node.lineno} {node.name} ({length})")
    return found


def test_no_function_is_longer_than_60_lines_without_a_reason() -> None:
    too_long = [
        f"{path.relative_to(SOURCE)}:{where}"
        for path in _modules()
        for where in _unexplained_long_functions(path.read_text())
    ]
    assert too_long == []


def test_a_long_function_passes_only_with_a_reason() -> None:
    body = "\n".join(f"    x{n} = {n}" for n in range(MAX_FUNCTION_LINES + 1))
    assert _unexplained_long_functions(f"def f():\n{body}\n") == ["1 f (62)"]
    assert _unexplained_long_functions(f"def f():  # long: a table\n{body}\n") == []

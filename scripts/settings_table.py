"""Write the README's configuration table from the Settings model itself.

``python scripts/settings_table.py`` rewrites the table between the
``settings-table`` markers in README.md; ``--print`` only prints it.
``tests/test_settings.py`` fails while README and settings disagree.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from pydantic.fields import FieldInfo

from mcp_tasks_server.settings import ENV_PREFIX, Settings

README = Path(__file__).resolve().parents[1] / "README.md"
BEGIN, END = "<!-- settings-table:begin -->", "<!-- settings-table:end -->"


def default_of(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unlimited" if "unlimited" in (field.description or "") else "unset"
    return f"`{value}`"


def table() -> str:
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("\n", " ").replace("|", "\\|")
        description = description.replace("``", "`")
        rows.append(f"| `{ENV_PREFIX}{name.upper()}` | {default_of(field)} | {description} |")
    return "\n".join(rows)


def main() -> None:
    if "--print" in sys.argv:
        print(table())
        return
    text = README.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise SystemExit(f"README.md has no {BEGIN} ... {END} block")
    README.write_text(pattern.sub(f"{BEGIN}\n{table()}\n{END}", text))


if __name__ == "__main__":
    main()

"""Print the README's configuration table from the Settings model itself.

Run ``python scripts/settings_table.py`` after adding a setting and paste the
output into README.md; ``tests/test_settings.py`` fails while they disagree.
"""

from __future__ import annotations

from pydantic.fields import FieldInfo

from mcp_tasks_server.settings import ENV_PREFIX, Settings


def default_of(field: FieldInfo) -> str:
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "unset" if "unlimited" not in (field.description or "") else "unlimited"
    return f"`{value}`"


def main() -> None:
    print("| Variable | Default | Meaning |")
    print("|---|---|---|")
    for name, field in Settings.model_fields.items():
        description = (field.description or "").replace("\n", " ").replace("|", "\\|")
        print(f"| `{ENV_PREFIX}{name.upper()}` | {default_of(field)} | {description} |")


if __name__ == "__main__":
    main()

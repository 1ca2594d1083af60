"""Print the evaluation table of docs/model_card.md from the result JSON files.

Each row is exactly the row ``napari-fbrs evaluate`` printed for that file (the card test
checks this), preceded by the file name, so that replacing the shipped model and its results
never means retyping numbers::

    python training/model_card_table.py docs/model_card/grabcut_nobrs.json docs/model_card/...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from napari_fbrs.evaluation.report import format_table, read_json


def card_table(paths: list[Path]) -> str:
    """The Markdown table: header and rule from the first file, one row per file."""
    if not paths:
        raise ValueError("no result files given")
    lines: list[str] = []
    for path in paths:
        header, rule, row = format_table(read_json(path)).splitlines()
        if not lines:
            lines += ["| result file " + header, "| --- " + rule]
        lines.append(f"| `{path.name}` " + row)
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULT.json")
    print(card_table(parser.parse_args().results))


if __name__ == "__main__":
    main()

"""Files per second reading 1,000 template-like workbooks: sources.read against pandas+openpyxl.

Run `.venv/bin/python bench/read_bench.py [count]`. The workbooks follow the template layout
(motto, label rows, `Chỉ tiêu` and `Tiến độ` tables, hidden `_khcn`), one per unit, 32 data
elements each, written with openpyxl into a temporary folder.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from filemakers import PROGRESS, PROGRESS_HEADER, VALUE_HEADER, head, xlsx_bytes  # noqa: E402

from sources.inbox import list_inbox  # noqa: E402
from sources.read import read_bytes, read_many  # noqa: E402

ELEMENTS = [f"{g}.{t}.{e}" for g in range(1, 5) for t in range(1, 3) for e in range(1, 5)]


def workbook(unit: str) -> bytes:
    rows = [
        [code.rsplit(".", 1)[0], code, f"Chỉ tiêu {code}", "cuộc", k * 3 + 1, None]
        for k, code in enumerate(ELEMENTS)
    ]
    return xlsx_bytes(
        {
            "Hướng dẫn": [["Điền số liệu vào cột Giá trị."]],
            "Chỉ tiêu": [*head(unit), VALUE_HEADER, *rows],
            "Tiến độ": [*head(unit), PROGRESS_HEADER, *PROGRESS],
            "_khcn": [["template_version", "2026.1"], ["unit_code", unit], ["period", "2026Q3"]],
        }
    )


def main(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for k in range(count):
            unit = f"THON-{k:04d}"
            (folder / f"{unit}_2026Q3.xlsx").write_bytes(workbook(unit))
        entries = list_inbox(str(folder))
        workers = os.cpu_count() or 1

        started = time.perf_counter()
        subs = read_many(entries, workers=workers, chunk_size=32)
        ours = count / (time.perf_counter() - started)
        assert all(len(s.values) == len(ELEMENTS) and not s.issues for s in subs)

        started = time.perf_counter()
        for entry in entries:
            read_bytes(Path(entry.url).read_bytes(), entry.url)
        serial = count / (time.perf_counter() - started)

        # Imported here so that worker processes, which re-import this module, stay lean.
        import pandas as pd

        started = time.perf_counter()
        for entry in entries:
            pd.read_excel(entry.url, engine="openpyxl", sheet_name=None)
        theirs = count / (time.perf_counter() - started)

    print(f"files: {count}, CPUs: {workers}")
    print(f"sources.read_many ({workers} workers): {ours:8.1f} files/s")
    print(f"sources.read_bytes (1 process):      {serial:8.1f} files/s")
    print(f"pandas.read_excel openpyxl:          {theirs:8.1f} files/s")
    print(
        f"ratio read_many / pandas: {ours / theirs:.1f}x; one process / pandas: "
        f"{serial / theirs:.1f}x"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1000)

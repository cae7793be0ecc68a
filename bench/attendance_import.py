"""Reading attendance reports: time to parse a Zoom CSV and a Teams UTF-16 file of N participants.

    python bench/attendance_import.py [--rows 1000 19000] [--repeat 5]

Pure parsing (encoding, delimiter and header detection, per-row values), no database: the
median of ``--repeat`` runs per size, printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from crm.events.followup.attendance_import import read_attendance_report  # noqa: E402

ZOOM_HEAD = (
    "Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants\n"
    "812 3456 7890,Webinaire,03/14/2024 09:55:02 AM,03/14/2024 11:02:31 AM,o@esante.fr,68,3\n\n"
    "Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest,Recording Consent,"
    "In Waiting Room\n"
)


def zoom(rows: int) -> bytes:
    body = "".join(
        f"Personne {i},personne{i}@ehpad-{i % 50}.fr,03/14/2024 10:{i % 60:02d}:00 AM,"
        f"03/14/2024 11:00:00 AM,{i % 90},Yes,Y,No\n"
        for i in range(rows)
    )
    return (ZOOM_HEAD + body).encode("utf-8")


def median_ms(data: bytes, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        read_attendance_report(data, max_bytes=10**9)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1000, 19000])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print("| participants | Zoom CSV (UTF-8, commas) | Teams (UTF-16, tabs) |")
    print("|---:|---:|---:|")
    for rows in args.rows:
        data = zoom(rows)
        teams = data.decode("utf-8").replace(",", "\t").encode("utf-16")
        print(
            f"| {rows:,} | {median_ms(data, args.repeat):.0f} ms ({len(data) // 1024} KiB) | "
            f"{median_ms(teams, args.repeat):.0f} ms ({len(teams) // 1024} KiB) |"
        )


if __name__ == "__main__":
    main()

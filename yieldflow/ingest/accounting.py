"""What an ingestion run collects as it goes: the row counts and the findings."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from yieldflow.ingest import validation as v


class IngestionError(Exception):
    """The dataset cannot be used at all; the message is one line naming file and problem."""


@dataclass
class IngestionAccounting:
    """Counts published with every run. Sensor rows obey the identity checked by check().

    files_read / files_failed count sensor files (farms.csv and harvests.csv either load or
    stop the run); files_ignored counts files outside the layout. A failed file's rows are
    never "read". readings_nulled equals the number of scope "value" quarantine entries;
    values are cleaned before duplicates are resolved, so a copy that is later dropped or
    quarantined as a duplicate keeps its value entries (each names its own file and line).
    """

    rows_read: int = 0
    rows_accepted: int = 0
    rows_quarantined: int = 0
    duplicate_rows_dropped: int = 0
    readings_nulled: int = 0
    files_read: int = 0
    files_failed: int = 0
    files_ignored: int = 0
    harvest_rows_read: int = 0
    harvest_rows_accepted: int = 0
    harvest_rows_quarantined: int = 0

    def check(self) -> None:
        """Raise ValueError when a row went missing or was counted twice."""
        total = self.rows_accepted + self.rows_quarantined + self.duplicate_rows_dropped
        if self.rows_read != total:
            raise ValueError(
                f"sensor accounting broken: rows_read={self.rows_read} != accepted "
                f"{self.rows_accepted} + quarantined {self.rows_quarantined} + duplicates "
                f"{self.duplicate_rows_dropped} = {total}"
            )
        harvests = self.harvest_rows_accepted + self.harvest_rows_quarantined
        if self.harvest_rows_read != harvests:
            raise ValueError(
                f"harvest accounting broken: read {self.harvest_rows_read} != {harvests}"
            )


@dataclass
class Findings:
    """What a run collects as it goes: quarantine entries, notes and counts."""

    accounting: IngestionAccounting = field(default_factory=IngestionAccounting)
    found: list[pd.DataFrame] = field(default_factory=lambda: [v.empty_entries()])
    notes: list[str] = field(default_factory=list)
    first_failure: str = ""

    def file_entry(self, key: str, reason: str) -> None:
        self.found.append(v.entries([key], [0], "", "", reason, "file"))

    def fail_file(self, key: str, reason: str) -> None:
        self.accounting.files_failed += 1
        self.file_entry(key, reason)
        self.first_failure = self.first_failure or f"; first: {key}: {reason}"

    def note_extra(self, key: str, extra: list[str]) -> None:
        """Note the columns a file has beyond the contract's (they are ignored)."""
        if extra:  # an empty name (a trailing delimiter) would vanish from the note
            names = ", ".join(name or "(unnamed)" for name in extra)
            self.notes.append(f"{key}: extra column(s) ignored: {names}")

"""CSV and TSV feeds with the Merchant field names as the header (``id``, ``title`` …).

The delimiter is the header line's most frequent of tab, comma, semicolon and pipe. Rows are
read one at a time (``csv`` handles quoted fields across lines); the line number of a row is
the line its record starts on.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import IO

from shoptrack.catalog.errors import FeedError, FeedErrorCode
from shoptrack.catalog.fields import Problem, RawItem, field_name

_DELIMITERS = ("\t", ",", ";", "|")


def sniff_delimiter(header: str) -> str:
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


class CsvFeedReader:
    def __init__(self, stream: IO[bytes], first_line: bytes) -> None:
        self.stream = stream
        header = first_line.decode("utf-8", errors="replace").lstrip("\ufeff")
        self.delimiter = sniff_delimiter(header)
        self.format = "tsv" if self.delimiter == "\t" else "csv"

    def __iter__(self) -> Iterator[RawItem | Problem]:
        text = io.TextIOWrapper(self.stream, encoding="utf-8-sig", errors="replace", newline="")
        reader = csv.reader(text, delimiter=self.delimiter)
        try:
            header = next(reader, None)
            names = [field_name(cell) for cell in header or ()]
            if "id" not in names:
                found = ", ".join(n for n in names[:8] if n) or "nothing"
                raise FeedError(
                    FeedErrorCode.NOT_A_FEED,
                    f"not an XML feed, and the first line is not a CSV/TSV header with an 'id' "
                    f"column (found: {found[:200]})",
                    1,
                )
            width = len(names)
            last_line = reader.line_num
            for row in reader:
                line, last_line = last_line + 1, reader.line_num
                if not any(cell.strip() for cell in row):
                    continue
                if len(row) > width:
                    yield Problem(line, None, f"{len(row)} cells in a row of a {width}-column file")
                raw = RawItem(line=line)
                for name, cell in zip(names, row, strict=False):
                    if name and cell:
                        raw.add(name, cell)
                yield raw
        except csv.Error as exc:
            line = reader.line_num
            raise FeedError(FeedErrorCode.INVALID_CSV, f"line {line}: {exc}", line) from None
        finally:
            text.detach()

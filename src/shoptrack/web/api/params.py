"""Path and query integers, bounded here so that a value the store cannot hold is a 400
naming the field instead of a database error (PostgreSQL's integer column, SQLite's 64 bits)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

MAX_BIGINT = 2**63 - 1  # seq cursors and other BIGINT columns
MAX_BLOCK_ID = 2**31 - 1  # blocks.block_id is an INTEGER column

BlockId = Annotated[int, Path(ge=1, le=MAX_BLOCK_ID, description="the block's number")]

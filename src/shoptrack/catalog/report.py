"""What one import saw: counts, and the first few examples of each problem with line numbers.

Counts are exact whatever the feed's size; examples are capped (``feed_report_examples``) so a
feed with a million broken items still has a small report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from shoptrack.catalog.fields import LINK_FIELDS, FeedItem, Problem


@dataclass(slots=True)
class Examples:
    cap: int
    count: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def add(self, example: dict[str, Any]) -> None:
        self.count += 1
        if len(self.examples) < self.cap:
            self.examples.append(example)

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "examples": self.examples}


@dataclass(slots=True)
class ImportReport:
    cap: int = 100
    format: str | None = None
    items: int = 0
    products: int = 0
    new_products: int = 0
    removed_products: int = 0
    in_stock: int = 0
    out_of_stock: int = 0
    price_zero: int = 0
    without_category: int = 0
    categories: int = 0
    kept_from_updates: int = 0  # products whose ProductUpdate values outlived this import
    page_values_replaced: int = 0  # products whose page-view price/stock the feed replaced
    kept_other_sources: int = 0
    refused_links: int = 0  # links and image links that were not http(s) addresses
    bytes: int = 0
    missing: dict[str, int] = field(default_factory=dict)
    duplicates: Examples = field(init=False)
    errors: Examples = field(init=False)
    unknown_categories: Examples = field(init=False)

    def __post_init__(self) -> None:
        self.duplicates = Examples(self.cap)
        self.errors = Examples(self.cap)
        self.unknown_categories = Examples(self.cap)

    def problem(self, problem: Problem) -> None:
        self.errors.add(problem.to_dict())
        if problem.field in LINK_FIELDS:
            self.refused_links += 1

    def duplicate(self, key: str, line: int, first_line: int | None) -> None:
        self.duplicates.add({"key": key, "line": line, "first_line": first_line})

    def product(self, item: FeedItem) -> None:
        """Count one imported product (duplicates are not counted here)."""
        self.products += 1
        if item.in_stock is True:
            self.in_stock += 1
        elif item.in_stock is False:
            self.out_of_stock += 1
        if not item.price:
            self.price_zero += 1
        if not item.categories:
            self.without_category += 1
        for name in ("title", "link", "image_link", "price", "availability"):
            value = item.price if name == "price" else getattr(item, name)
            if value is None:
                self.missing[name] = self.missing.get(name, 0) + 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "items": self.items,
            "products": self.products,
            "new_products": self.new_products,
            "removed_products": self.removed_products,
            "in_stock": self.in_stock,
            "out_of_stock": self.out_of_stock,
            "price_zero": self.price_zero,
            "without_category": self.without_category,
            "categories": self.categories,
            "unknown_categories": self.unknown_categories.to_dict(),
            "duplicates": self.duplicates.to_dict(),
            "errors": self.errors.to_dict(),
            "missing": dict(sorted(self.missing.items())),
            "kept_from_updates": self.kept_from_updates,
            "page_values_replaced": self.page_values_replaced,
            "kept_other_sources": self.kept_other_sources,
            "refused_links": self.refused_links,
            "bytes": self.bytes,
        }

"""The dashboard's navigation: one entry per area of a site, shown once its page exists."""

from __future__ import annotations

# (label, route name): every area's main page; an entry whose route is not registered is left
# out, so a link never leads to a 404.
SITE_NAV: tuple[tuple[str, str], ...] = (
    ("Overview", "admin_overview"),
    ("Live events", "admin_events"),
    ("Rejected", "admin_rejected"),
    ("Charts", "admin_charts"),
    ("Recommendations", "admin_blocks"),
    ("Catalogue", "admin_catalog"),
    ("Contacts", "admin_contacts"),
    ("Segments", "admin_segments"),
    ("Triggers", "admin_triggers"),
)

"""The product catalogue: feed import, event updates, price and stock history.

* ``sources`` opens a feed (HTTP(S) with timeouts, size cap, conditional requests and gzip, or
  a local file) as a byte stream; ``formats`` sniffs it and hands it to one streaming parser
  per format (``xmlfeed`` for Google Merchant RSS 2.0 / Atom, ``csvfeed`` for CSV / TSV);
  ``fields`` turns one item's raw fields into a :class:`~shoptrack.catalog.fields.FeedItem`.
* ``importer`` writes the items into a staging generation in batches and switches the site's
  catalogue to it in one short transaction (``generations`` holds the table-level steps), so a
  failed import leaves the last good catalogue in place; ``report`` counts what it saw.
* ``processor`` applies ``ProductUpdate`` and ``ProductPage`` events; it is one of the
  processors ``shoptrack.processing.runner`` runs over the event log.
* ``queries`` and ``categories`` read products, history and the category tree for the API.
* ``scheduler`` starts due imports; ``service`` holds it and the import threads for ``serve``;
  ``cli`` is ``shoptrack feeds …``.
"""

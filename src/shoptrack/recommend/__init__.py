"""Recommendations: pure algorithms, their training into stored models, serving, blocks.

* :mod:`.algorithms` — the algorithms as pure functions over item-index arrays (numpy/scipy;
  no store), the registry of tuned parameters;
* :mod:`.research` — offline evaluation on real logs (next item, next basket) and tuning;
* :mod:`.training`, :mod:`.model`, :mod:`.snapshot_codec`, :mod:`.scheduler` — fitting the
  algorithms on a site's event log and storing the result; folding new events in between;
* :mod:`.serving`, :mod:`.state`, :mod:`.strategies`, :mod:`.catalog_view` — the in-memory,
  read-only serving path;
* :mod:`.blocks`, :mod:`.block_rules` — blocks, their A/B variants and change history.

HTTP and CLI live at the edges (``shoptrack.web.recs``, ``web.api.blocks``, ``cli.blocks``,
``cli.evaluate``).
"""

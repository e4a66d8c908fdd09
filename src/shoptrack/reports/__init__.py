"""Recommendation reports: attribution of clicks, carts and purchases to blocks and variants.

* :mod:`.ids` — reading ``container_type`` / ``sc_content`` (``{placement}_r{block}v{variant}``);
* :mod:`.processor` — the ``reports`` processor of the event log (daily aggregates);
* :mod:`.queries` — the report with CTR, conversion and AOV; :mod:`.api` its endpoint;
* :mod:`.commands` — ``shoptrack reports rebuild``.
"""

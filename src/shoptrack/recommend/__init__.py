"""Recommendation algorithms as pure functions over arrays, and the proof of their quality.

* :mod:`.data` — item index ↔ product key, sessions in CSR form, loaders, the time split;
* :mod:`.base` — the ``fit`` / ``recommend(prefix, k, exclude=…)`` contract, the tie rule
  (global popularity, then item index) and the popular fallback every algorithm shares;
* :mod:`.popular`, :mod:`.rules`, :mod:`.knn`, :mod:`.hybrid` — the algorithms;
* :mod:`.registry` — algorithms by name with their tuned parameters; :mod:`.tuning` — how
  those were chosen (validation days from the end of the training data);
* :mod:`.evaluation` — the next-item protocol (session-rec's), :mod:`.baskets` — next basket;
* :mod:`.cli` — ``shoptrack evaluate sessions|baskets``.

The worker fits; serving only calls ``recommend`` on a fitted model (or reads what a job
wrote from it): nothing here touches the database.
"""

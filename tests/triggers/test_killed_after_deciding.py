"""A worker killed right after its decisions committed, before it sent anything.

The other crash (killed during a send, ``test_delivery_loop.py``) leaves an attempt with no
outcome; this one leaves only ``pending`` rows. The workers that come back, two at once here,
send each message once: the decision is never made again and the claim lets one sender in.
"""

from __future__ import annotations

import signal
import subprocess
import sys

from shoptrack.store.db import create_store_engine
from shoptrack.triggers.decide import Decider
from shoptrack.triggers.engine import TriggerEngine
from shoptrack.triggers.model import Channel
from shoptrack.triggers.send import SendCounts, Sender
from tests.triggers.conftest import Shop
from tests.triggers.test_delivery_loop import at_once, left_carts

KILLED_AFTER_DECIDING = """
import os, signal, sys
from pathlib import Path
from shoptrack.identity.crypto import Keyring
from shoptrack.store.db import create_store_engine
from shoptrack.triggers.decide import Decider

url, keys, now = sys.argv[1], sys.argv[2], int(sys.argv[3])
decider = Decider(create_store_engine(url), Keyring.load_or_create(Path(keys)), clock=lambda: now)
print(decider.run_due().messages, flush=True)
os.kill(os.getpid(), signal.SIGKILL)  # the worker would send next
"""


def test_a_worker_killed_after_deciding_leaves_messages_sent_once_by_its_successors(
    shop: Shop,
) -> None:
    left_carts(shop, 3)
    settings = shop.services.settings
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AFTER_DECIDING,
            settings.database_url,
            str(settings.key_file),
            str(shop.clock.now),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr[-2000:]
    assert done.stdout.strip() == "3"
    rows = shop.messages()
    assert [(r.status, r.attempts) for r in rows] == [("pending", 0)] * 3

    # Two workers come back at once: each decides (nothing new) and sends what it can claim.
    engines = [create_store_engine(settings.database_url) for _ in range(2)]
    try:
        workers = [
            TriggerEngine(
                Decider(engine, shop.services.keyring, clock=shop.clock),
                Sender(
                    engine, shop.services.keyring, {Channel.EMAIL: shop.email}, clock=shop.clock
                ),
            )
            for engine in engines
        ]
        rounds = at_once(*(w.tick for w in workers))
    finally:
        for engine in engines:
            engine.dispose()
    assert sum(decided.messages for decided, _ in rounds) == 0
    sent: list[SendCounts] = [s for _, s in rounds]
    assert sum(s.sent for s in sent) == 3
    assert sorted(m.message_id for m, _ in shop.email.sent) == sorted(r.message_id for r in rows)
    assert [(r.status, r.attempts) for r in shop.messages()] == [("sent", 1)] * 3

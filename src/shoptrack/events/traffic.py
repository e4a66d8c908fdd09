"""Which stored events are bot traffic, for the readers that leave it out (reports, training).

The collector flags a user agent as a bot (``user_agent.is_bot``, see ``collector/enrich.py``).
Only browser events are judged by it: a REST event carries the agent of the shop's server that
relayed it (``python-requests``, ``curl``, ``Java/…`` all read as bots), not the visitor's, so
a server-side purchase is never taken for a crawler's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_bot_event(data: Mapping[str, Any]) -> bool:
    """True for a browser event (canonical JSON) whose user agent was flagged as a bot."""
    return data.get("source") == "browser" and agent_is_bot(data)


def agent_is_bot(data: Mapping[str, Any]) -> bool:
    """The event's user agent was flagged as a bot (whatever the event's source)."""
    agent = data.get("user_agent")
    return isinstance(agent, dict) and agent.get("is_bot") is True

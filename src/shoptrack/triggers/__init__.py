"""Triggers: messages a shop's tracked behaviour earns (abandoned cart, abandoned browse, …).

The engine (``rules``, ``schedule``, ``decide``) turns events into due messages, decided once;
delivery (``email``, ``webhook``) carries a decided :class:`~.model.OutgoingMessage` out.
"""

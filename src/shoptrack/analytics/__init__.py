"""What a site's traffic looks like: daily counts per event type, visitors, carts, orders and
revenue (bots apart), and whether the tracker is installed; read by the dashboard."""

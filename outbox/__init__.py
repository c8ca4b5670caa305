"""Publishing and durable delivery. Must not import `inbox` or `server`."""

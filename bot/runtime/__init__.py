"""Runtime: the inbox and outbox loops, the dispatcher, the sender with its lanes, leadership, health.

Transports hand it messages; it never imports a transport's library."""

"""Jobs: bulk and periodic work that drives the flows — the digest, imports, exports, placement rounds, retention.

They sit above the flows because they start or continue flows for many people at once."""

"""Core: what every layer above speaks — messages, languages, the network file, settings, roles and access, the outbox.

Imports only `storage`. Nothing here knows a flow, a loop or a transport."""

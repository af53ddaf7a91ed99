"""Services: the network's rules — who is responsible (routing), reminders, stages and progress, privacy, duplicates.

Flows call them; they never call a flow."""

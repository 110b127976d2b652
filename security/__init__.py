"""The citizen-security domain: people and roles, incidents, block alarms, the event log,
live push and the API that phones call."""

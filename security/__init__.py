"""The citizen-security domain: people and roles, incidents, block alarms, the event log,
live push and the API that phones call."""

# The roll-ups follow every incident written through the ORM (mapper events): load them with
# the package so no code path can write an incident without them.
from security import rollups as rollups

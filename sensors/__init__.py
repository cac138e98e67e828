"""Pure adapters from device wire formats to relic-guard records; no sockets, no clock, no asyncio."""

"""The ingest lanes: MQTT messages in, durable batches out, acknowledgements after."""

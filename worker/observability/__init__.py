"""What a running worker tells the outside: Prometheus metrics (:mod:`.metrics`, served by
:mod:`.exporter`) and one-JSON-object-per-line logs (:mod:`.json_logs`). docs/observability.md
lists the names."""

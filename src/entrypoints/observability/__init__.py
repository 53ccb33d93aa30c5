"""What operators watch: request ids, structured logs, Prometheus metrics, traces and the
version. prometheus-client and OpenTelemetry are imported only by the modules that need them,
so the pure core and ``bootstrap_in_memory()`` never load them."""

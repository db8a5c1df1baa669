"""Operating the proxy: serving, workers, health, metrics, the access log, logs, redaction, the demo."""

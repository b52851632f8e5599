"""What keeps the daemon running and observable, below every flow: supervision
and containment (bulkhead), event hints (hints), logging (logs), systemd
notification (sdnotify) and malloc settings (malloc)."""

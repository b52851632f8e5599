"""What keeps the daemon running and observable, below every flow: the contract
between the daemon and a flow (flow), one pass contained and said once
(passes), supervision and containment (bulkhead), watchdog on syncd's local
folders (watch), logging (logs), systemd notification (sdnotify) and malloc
settings (malloc)."""

"""The audit log: append-only, hash-chained, masked records of LLM calls, back-end writes
and admin actions (`kefu.audit.service.AuditLog`), with verify, retention purge, export
and erasure. The hash definition is in `kefu.audit.model`.

This package's `__init__` imports nothing from `kefu.settings` (the settings root imports
`kefu.audit.settings`), so import the service from `kefu.audit.service`."""

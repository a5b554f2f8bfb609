"""Safety: PII detection and masking (`kefu.safety.pii`), guards and audit."""

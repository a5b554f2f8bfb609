"""kefu (客服): a self-hosted customer-service system for e-commerce shops."""

__version__ = "0.1.0"

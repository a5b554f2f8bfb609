"""Knowledge: FAQ and documents, retrieval, answer cache."""

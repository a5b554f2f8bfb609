"""The web chat page (static HTML/JS over the WebSocket)."""

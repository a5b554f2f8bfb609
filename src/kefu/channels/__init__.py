"""Channel adapters (WebSocket, REST) and the gateway checks they share."""

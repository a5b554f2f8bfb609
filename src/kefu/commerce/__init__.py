"""Commerce: order, logistics and catalog connectors and the actions flows call."""

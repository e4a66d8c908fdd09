"""The canonical event model and one adapter per wire shape."""

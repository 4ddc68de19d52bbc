"""jieneng: energy and water monitoring and ranking for public institutions (the app shell)."""

__version__ = "0.1.0"

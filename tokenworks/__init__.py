"""tokenworks: implement, reproduce, sweep, serve and track token-efficiency research."""

__version__ = "0.1.0"

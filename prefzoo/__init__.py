"""prefzoo: a preference-optimization algorithm zoo."""
__version__ = "0.1.0"

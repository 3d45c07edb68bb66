"""The error every configuration check raises."""


class ConfigError(ValueError):
    """A configuration value is not allowed. ``str(err)`` is one line naming the key."""

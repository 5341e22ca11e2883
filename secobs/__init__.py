"""secobs: investigate security incidents from audit events, request metrics and trace spans."""

__version__ = "0.1.0"

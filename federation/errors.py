"""Exceptions of the protocol layer; every one derives from FederationError."""


class FederationError(Exception):
    """Base of every error raised by `federation`."""


class ParseError(FederationError):
    """Wire input (JSON, headers, handles) could not be narrowed into a typed value."""


class FetchError(FederationError):
    """A remote document could not be fetched or was not acceptable."""

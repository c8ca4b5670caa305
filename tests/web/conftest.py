"""The browser fixture (`open_browser`) for the web pages' tests."""

from tests.browser import open_browser

__all__ = ["open_browser"]

"""Signing service adapters: the built-in signing page and third-party providers."""

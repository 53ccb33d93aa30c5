"""Tests of the signing adapters (Dropbox Sign against a local fake of its API)."""

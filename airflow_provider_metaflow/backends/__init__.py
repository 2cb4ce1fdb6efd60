"""Execution backends: where a Metaflow command runs (a local child process for now)."""

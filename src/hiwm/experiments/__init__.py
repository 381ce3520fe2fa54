"""Experiments that exercise hiwm from the outside (its CLI and public API) and write a report."""

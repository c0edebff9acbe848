"""Helpers every test tier shares: waiting with a deadline, free ports, metric samples."""

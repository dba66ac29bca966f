"""Emulators of kernel interfaces this machine does not have (tests only)."""

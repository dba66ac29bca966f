"""Fixtures shared by every suite."""

from tests.emulators.fixture import (  # noqa: F401
    mount_resctrl,
    resctrl_emulator,
)


def pytest_configure(config):
    config.addinivalue_line(
        'markers', 'resctrl(**config): configuration of the '
        'resctrl_emulator fixture (tests/emulators/resctrlfs.py)')

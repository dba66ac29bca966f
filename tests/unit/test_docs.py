"""The documents an operator reads render without errors."""

import os

import docutils.core
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


@pytest.mark.parametrize('name', ['README.rst', 'devstack/README.rst',
                                  'doc/source/performance.rst'])
def test_rst_renders_cleanly(name):
    with open(os.path.join(ROOT, name)) as f:
        text = f.read()
    docutils.core.publish_string(
        text, writer_name='null',
        settings_overrides={'report_level': 2, 'halt_level': 2})

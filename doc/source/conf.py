"""Sphinx configuration of the ceilometer-perf documentation.

Build: tox -e docs, or
    sphinx-build -W --keep-going -b html doc/source doc/build/html
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
# The checkout these docs describe comes first, then the local extension.
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(HERE, '_exts'))

project = 'ceilometer-perf'
copyright = 'ceilometer-perf developers'
author = 'ceilometer-perf developers'

extensions = [
    'oslo_config.sphinxext',
    'cperf_tables',
]

root_doc = 'index'
exclude_patterns = ['_build']
templates_path = []
pygments_style = 'sphinx'
# Literal blocks (::) are shell, config or diagrams: no guessing.
highlight_language = 'none'
html_theme = 'alabaster'
html_theme_options = {
    'description': 'Hardware performance counters and vPMU state of '
                   'instances, for OpenStack Telemetry',
    'page_width': 'auto',
    'fixed_sidebar': False,
}
html_static_path = ['_static']
html_last_updated_fmt = None

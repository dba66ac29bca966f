# Licensed under the Apache License, Version 2.0 (the "License"); you may
# not use this file except in compliance with the License. You may obtain
# a copy of the License at
#
#      http://www.apache.org/licenses/LICENSE-2.0
#
# Unless required by applicable law or agreed to in writing, software
# distributed under the License is distributed on an "AS IS" BASIS, WITHOUT
# WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied. See the
# License for the specific language governing permissions and limitations
# under the License.

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

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

"""The documents an operator reads render, and their links lead somewhere.

The Sphinx site (doc/source) is built with warnings as errors by the lint
stage of tools/run-tests.sh and by `tox -e docs`; these tests cover what
is read outside it, on a forge or in a checkout.
"""

import os
import re

import docutils.core
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
DOC = os.path.join(ROOT, 'doc', 'source')

# `text <target>`_ with a target that is not a URL.
RELATIVE_LINK = re.compile(r'`[^`<]*<(?![a-z]+://)([^>`]+)>`_')


def _read(name):
    with open(os.path.join(ROOT, name)) as f:
        return f.read()


@pytest.mark.parametrize('name', ['README.rst', 'devstack/README.rst'])
def test_rst_renders_cleanly(name):
    docutils.core.publish_string(
        _read(name), writer_name='null',
        settings_overrides={'report_level': 2, 'halt_level': 2})


@pytest.mark.parametrize('name', ['README.rst', 'devstack/README.rst'])
def test_relative_links_lead_to_files(name):
    here = os.path.dirname(os.path.join(ROOT, name))
    for target in RELATIVE_LINK.findall(_read(name)):
        assert os.path.isfile(os.path.join(here, target)), target


def test_relative_link_check_can_fail():
    text = '`there <doc/source/nowhere.rst>`_ and `x <https://a.b/c>`_'
    assert RELATIVE_LINK.findall(text) == ['doc/source/nowhere.rst']


def _doc_pages():
    """doc/source/**.rst but the site's front page and the pages that only
    include a file the README links itself."""
    skip = {'doc/source/index.rst', 'doc/source/install/devstack.rst'}
    pages = []
    for directory, dirs, files in os.walk(DOC):
        dirs[:] = [d for d in dirs if not d.startswith('_')]
        pages += [os.path.relpath(os.path.join(directory, name), ROOT)
                  for name in files if name.endswith('.rst')]
    return sorted(set(pages) - skip)


def test_readme_links_every_doc_page():
    """The README is the way into the docs from a checkout."""
    pages = _doc_pages()
    assert 'doc/source/admin/meters.rst' in pages
    readme = _read('README.rst')
    assert [p for p in pages if '<%s>`_' % p not in readme] == []


@pytest.mark.parametrize('page,directive', [
    ('admin/meters.rst', 'ceilometer-perf-meters'),
    ('admin/prometheus.rst', 'ceilometer-perf-prometheus'),
])
def test_generated_tables_are_in_the_docs(page, directive):
    """The tables come from doc/source/_exts/cperf_tables.py, whose rows
    tests/unit/test_catalogue.py and test_prometheus.py check."""
    with open(os.path.join(DOC, page)) as f:
        assert '\n.. %s::\n' % directive in f.read()
    with open(os.path.join(DOC, '_exts', 'cperf_tables.py')) as f:
        assert "'%s'" % directive in f.read()


def test_architecture_names_every_module():
    """contributor/architecture.rst says what each module is for."""
    text = _read('doc/source/contributor/architecture.rst')
    package = os.path.join(ROOT, 'ceilometer_perf')
    modules = []
    for directory, _dirs, files in os.walk(package):
        modules += [os.path.relpath(os.path.join(directory, name), package)
                    for name in files
                    if name.endswith('.py') and name != '__init__.py']
    assert 'kinds/vpmu.py' in modules
    assert [m for m in sorted(modules) if '``%s``' % m not in text] == []

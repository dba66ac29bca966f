"""Sphinx configuration of the ceilometer-perf release notes (reno).

Build: tox -e releasenotes, or
    sphinx-build -a -E -W -b html releasenotes/source releasenotes/build/html
"""

project = 'ceilometer-perf Release Notes'
copyright = 'ceilometer-perf developers'
author = 'ceilometer-perf developers'

extensions = ['reno.sphinxext']

root_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'sphinx'
html_theme = 'alabaster'
# Release notes carry no version of their own.
version = ''
release = ''

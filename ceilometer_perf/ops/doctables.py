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

"""The tables of the docs that are generated, not written.

doc/source/_exts/cperf_tables.py puts them into the pages at build time
(admin/meters.rst, admin/prometheus.rst), so they cannot go stale; the
unit tests check that they carry every catalogue meter.  Both are RST
list-tables (ops/tables.py), which read on a phone.
"""

from docutils import core
from docutils import nodes

from ceilometer_perf import catalogue
from ceilometer_perf.ops import prometheus
from ceilometer_perf.ops import tables

METER_HEADER = ('Meter', 'Type', 'Unit', 'libvirt source', 'Stats groups',
                'Description')


def _literal(text):
    return '``%s``' % text


def meter_rows(meters=catalogue.METERS):
    """One row per catalogue meter, in catalogue order."""
    return [(_literal(m.name), m.type, m.unit, _literal(m.source),
             ' + '.join(g.upper() for g in m.groups), m.help)
            for m in meters]


def meter_table(meters=catalogue.METERS):
    return tables.list_table(METER_HEADER, meter_rows(meters),
                             widths=(20, 10, 10, 25, 10, 25))


def prometheus_rows(exps):
    """One row per exposition (ops/prometheus.py), in catalogue order."""
    return [(_literal(name), _literal(metric), _literal(labels), read_as)
            for name, metric, labels, read_as
            in prometheus.table_rows(exps)]


def prometheus_table(exps=None):
    """The table and, after it, what every series has in common."""
    if exps is None:
        exps = prometheus.expositions()
    table = tables.list_table(prometheus.TABLE_HEADER, prometheus_rows(exps),
                              widths=(25, 30, 30, 15))
    note = ('Prometheus type of every metric: %s.  Every series also '
            'carries the labels %s.' % (
                ', '.join(_literal(t) for t in prometheus.metric_types(exps)),
                ', '.join(_literal(c)
                          for c in prometheus.shared_labels(exps))))
    return table + '\n\n' + note


def first_column(rst):
    """The first cell of every body row of the tables in `rst`, as
    docutils renders them: what a reader finds in the first column."""
    doctree = core.publish_doctree(
        rst, settings_overrides={'report_level': 2, 'halt_level': 2})
    return [row.children[0].astext()
            for body in doctree.findall(nodes.tbody)
            for row in body.children]


def missing_meters(rst, meters=catalogue.METERS):
    """Catalogue meters without exactly one row in the tables of `rst`."""
    rows = first_column(rst)
    return [m.name for m in meters if rows.count(m.name) != 1]

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

"""Sphinx directives for the docs' generated tables.

    .. ceilometer-perf-meters::      the meter catalogue
    .. ceilometer-perf-prometheus::  the catalogue through Ceilometer's
                                     Prometheus exporter
    .. ceilometer-perf-capacity::    samples, Gnocchi metrics, points,
                                     storage and Prometheus series at scale
    .. ceilometer-perf-policies::    the archive policies and their meters

The rows come from ceilometer_perf.ops.doctables at build time, from the
catalogue and the installed Ceilometer: nothing to regenerate by hand.
"""

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util.docutils import SphinxDirective

from ceilometer_perf.ops import capacity
from ceilometer_perf.ops import doctables


class _GeneratedTable(SphinxDirective):
    has_content = False

    def rst(self):
        raise NotImplementedError

    def run(self):
        container = nodes.container()
        lines = StringList(self.rst().splitlines(),
                           source='<%s>' % self.name)
        self.state.nested_parse(lines, self.content_offset, container)
        return container.children


class MeterTable(_GeneratedTable):
    def rst(self):
        return doctables.meter_table()


class PrometheusTable(_GeneratedTable):
    def rst(self):
        return doctables.prometheus_table()


class PolicyTable(_GeneratedTable):
    def rst(self):
        return capacity.policy_table()


class CapacityTable(_GeneratedTable):
    def rst(self):
        return capacity.tables_rst()


def setup(app):
    app.add_directive('ceilometer-perf-meters', MeterTable)
    app.add_directive('ceilometer-perf-prometheus', PrometheusTable)
    app.add_directive('ceilometer-perf-capacity', CapacityTable)
    app.add_directive('ceilometer-perf-policies', PolicyTable)
    return {'parallel_read_safe': True, 'parallel_write_safe': True}

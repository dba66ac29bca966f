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

import pytest
from ceilometer import service

from ceilometer_perf import state
from ceilometer_perf import pollsters
from tests.unit import fakes


@pytest.fixture
def conf():
    return service.prepare_service([], [])


@pytest.fixture
def make_host(conf):
    """A HostState wired to a fake connection built from records."""
    def build(entries):
        fake = fakes.FakeConnection(entries)
        host = state.HostState(conf, opener=lambda uri: fake)
        host.fake = fake
        return host
    return build


def poll(host, meter_name, instances, cache=None, manager=None):
    """Run one catalogue pollster the way the polling manager does."""
    from ceilometer_perf import catalogue
    meter = catalogue.BY_NAME[meter_name]
    cls = pollsters.POLLSTERS[meter.class_name]
    pollster = cls(host.conf)
    pollster.host = host
    return list(pollster.get_samples(manager, {} if cache is None else cache,
                                     instances))


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

"""Effective vPMU state of a domain, and where that answer came from.

nova writes <features><pmu state='on|off'/> only when the flavor (hw:pmu)
or image (hw_pmu) asks; otherwise QEMU decides from the CPU model: a vPMU
for host-passthrough and maximum, none for named models.  The XML is read
once per domain boot, never every cycle.
"""

import collections
import dataclasses
import threading
from xml.etree import ElementTree

from ceilometer_perf import catalogue
from ceilometer_perf import kinds
from ceilometer_perf import missing
from ceilometer_perf.missing import Missing

EXPLICIT = 'explicit'
INFERRED = 'inferred'

# CPU modes for which QEMU exposes the host PMU when nothing says otherwise.
_PMU_BY_DEFAULT_MODES = ('host-passthrough', 'maximum')


@dataclasses.dataclass(frozen=True)
class VpmuState:
    enabled: bool
    decided_by: str          # EXPLICIT or INFERRED
    cpu_mode: str            # libvirt <cpu mode>, 'custom' when absent

    def metadata(self):
        return {'vpmu_decided_by': self.decided_by,
                'vpmu_cpu_mode': self.cpu_mode}


def parse_domain_xml(xml_text):
    """VpmuState of a domain from its live XML."""
    # The XML comes from the local libvirtd, whose escaping of tenant-set
    # strings (instance names) we rely on, as nova and Ceilometer do.
    root = ElementTree.fromstring(xml_text)  # noqa: S314
    cpu = root.find('./cpu')
    cpu_mode = 'custom'
    if cpu is not None:
        cpu_mode = cpu.get('mode', 'custom')
    pmu = root.find('./features/pmu')
    if pmu is not None:
        # libvirt's default for a bare <pmu/> is on.
        return VpmuState(enabled=pmu.get('state', 'on') == 'on',
                         decided_by=EXPLICIT, cpu_mode=cpu_mode)
    return VpmuState(enabled=cpu_mode in _PMU_BY_DEFAULT_MODES,
                     decided_by=INFERRED, cpu_mode=cpu_mode)


def nova_request(instance):
    """What the flavor and image asked for, as nova recorded it."""
    flavor = getattr(instance, 'flavor', None) or {}
    specs = flavor.get('extra_specs') or {}
    image_meta = getattr(instance, 'image_meta', None) or {}
    request = {}
    if 'hw:pmu' in specs:
        request['flavor_hw_pmu'] = specs['hw:pmu']
    if 'hw_pmu' in image_meta:
        request['image_hw_pmu'] = image_meta['hw_pmu']
    return request


class VpmuCache:
    """Per-boot cache of vPMU state, keyed by (uuid, domain id).

    A domain id changes on every boot, so a reboot with a new <pmu> setting
    is seen.  Entries of domains missing from the latest snapshot are
    dropped, which keeps the cache as large as the host's domain list.
    """

    def __init__(self):
        self._states = collections.OrderedDict()
        self._lock = threading.Lock()
        self.xml_reads = 0

    def get(self, record):
        """VpmuState of the domain, or a Missing if its XML cannot be read.
        """
        key = (record.uuid, record.domain_id)
        with self._lock:
            state = self._states.get(key)
        if state is not None:
            return state
        try:
            # The record's domain comes from this cycle's bulk read, so its
            # connection is fresh; a domain gone since then is retried on
            # the next cycle.
            xml_text = record.domain.XMLDesc(0)
        except Exception as exc:
            return Missing(missing.NO_DOMAIN_XML, detail='domain %s: %s'
                           % (record.name, exc))
        self.xml_reads += 1
        state = parse_domain_xml(xml_text)
        with self._lock:
            self._states[key] = state
        return state

    def prune(self, snapshot):
        live = {(r.uuid, r.domain_id) for r in snapshot.records.values()}
        with self._lock:
            for key in [k for k in self._states if k not in live]:
                del self._states[key]

    def __len__(self):
        return len(self._states)


class VpmuKind(kinds.Kind):
    """perf.vpmu: 1 or 0, and how that was decided, from the domain XML."""

    def value(self, record, instance, snap):
        state = self.host.vpmu.get(record)
        if state.__class__ is Missing:
            return state
        extra = state.metadata()
        extra.update(nova_request(instance))
        return int(state.enabled), extra


KINDS = {catalogue.KIND_VPMU: VpmuKind}

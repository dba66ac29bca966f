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
or image (hw_pmu) asks; otherwise QEMU decides from the CPU model and the
guest architecture, and we infer what it decided (decided_by 'inferred'):

- x86: QEMU's "pmu" CPU property defaults to off; only the "host" and
  "max" CPU types turn it on.  So a vPMU for cpu mode host-passthrough
  (-cpu host) and maximum (-cpu max, or mode custom with model max/host),
  none for host-model (a running domain shows it as mode custom with the
  expanded named model) and named models.
- aarch64: every CPU type QEMU offers there (host, max, cortex-a*,
  neoverse-*, a64fx) has the PMU feature, so a vPMU whatever the mode
  (nova's aarch64 default is host-passthrough; its custom mode without
  cpu_models uses model max).
- other architectures: not inferred as on.

The XML is read once per domain boot, never every cycle.
"""

import collections
import dataclasses
import threading
from xml.etree import ElementTree

from oslo_utils import strutils

from ceilometer_perf import catalogue
from ceilometer_perf import kinds
from ceilometer_perf import missing
from ceilometer_perf.missing import Missing

EXPLICIT = 'explicit'
INFERRED = 'inferred'

# x86: CPU modes and (mode custom) models for which QEMU exposes a PMU when
# nothing says otherwise ("pmu" is on only for the host and max types).
_X86_PMU_MODES = ('host-passthrough', 'maximum')
_X86_PMU_MODELS = ('host', 'max')
# Guest architectures whose every QEMU CPU type has a PMU by default.
_PMU_ALWAYS_ARCHES = ('aarch64',)


def _qemu_default_pmu(arch, cpu_mode, cpu_model):
    """Whether QEMU gives the guest a PMU when the XML does not say."""
    if arch in _PMU_ALWAYS_ARCHES:
        return True
    if arch in ('x86_64', 'i686'):
        return (cpu_mode in _X86_PMU_MODES or
                (cpu_mode == 'custom' and cpu_model in _X86_PMU_MODELS))
    return False


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
    cpu_model = None
    if cpu is not None:
        cpu_mode = cpu.get('mode', 'custom')
        model = cpu.find('model')
        if model is not None and model.text:
            cpu_model = model.text.strip()
    os_type = root.find('./os/type')
    arch = os_type.get('arch') if os_type is not None else None
    pmu = root.find('./features/pmu')
    if pmu is not None:
        # libvirt's default for a bare <pmu/> is on.
        return VpmuState(enabled=pmu.get('state', 'on') == 'on',
                         decided_by=EXPLICIT, cpu_mode=cpu_mode)
    return VpmuState(enabled=_qemu_default_pmu(arch or 'x86_64', cpu_mode,
                                               cpu_model),
                     decided_by=INFERRED, cpu_mode=cpu_mode)


def pmu_bool(raw):
    """The boolean nova means by a hw:pmu extra spec or hw_pmu property.

    nova parses both with oslo.utils' strutils.bool_from_string (not
    strict): '1', 't', 'true', 'on', 'y', 'yes' in any case are true,
    anything else false.  An image property arrives as Python's str() of
    nova's boolean field ('True' / 'False'), an extra spec as the admin
    typed it.
    """
    return strutils.bool_from_string(raw)


def requested(extra_specs, image_props):
    """Sample metadata of what the flavor and the image asked for.

    flavor_hw_pmu / image_hw_pmu: the boolean nova acts on;
    flavor_hw_pmu_raw / image_hw_pmu_raw: the text as recorded.
    """
    request = {}
    for prefix, where, key in (('flavor', extra_specs, 'hw:pmu'),
                               ('image', image_props, 'hw_pmu')):
        if where and key in where and where[key] is not None:
            raw = where[key]
            request[prefix + '_hw_pmu'] = pmu_bool(raw)
            request[prefix + '_hw_pmu_raw'] = str(raw)
    return request


def nova_request(instance):
    """What the flavor and image asked for, as nova recorded it.

    Ceilometer fills flavor['extra_specs'] and image_meta from the nova
    metadata in the domain XML, which nova writes from nova 32 (2025.2) on;
    instances started by an older nova have neither, and no such keys.
    """
    flavor = getattr(instance, 'flavor', None) or {}
    specs = flavor.get('extra_specs') or {}
    image_meta = getattr(instance, 'image_meta', None) or {}
    return requested(specs, image_meta)


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

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

"""Small TCG guests shaped as nova writes them, for the demo and tests.

Every guest's domain XML starts from one written by nova's own libvirt
driver (tests/fixtures/nova/<version>/<case>.xml, tools/nova_guest_xml.py):
nova 34.0.0's by default, nova 31.0.0's (no flavor id, no extraSpecs, no
<nova:image>) on request.  Only what a host without nova cannot run, and
what makes a test guest itself, is changed:

- domain type qemu (TCG), not kvm;
- no disk, no network interface, no VNC display (no files, bridges or
  ports to provide), and the serial console without its log file; the
  guests sit in SeaBIOS and still count real software events;
- <perf>: software events (the host may have no PMU), the guest's list;
- the domain name (prefix cperf-, for the cleanup), uuid (also in
  <sysinfo>), display name, memory (domain and flavor), the flavor name
  and id (m1.tcg, tcg-<MiB>), and the vPMU request: <pmu> and the hw:pmu
  extra spec as the Guest says, the CPU mode when it names one.

Everything else (sysinfo, features, clock, CPU as nova writes it, the other
devices, the whole <nova:instance> block) is nova's.  This is test/demo
tooling: it uses a read-write connection, which the plugin itself never
does.
"""

import argparse
import dataclasses
import os
import sys
import time
import uuid as uuidlib
from xml.etree import ElementTree

import libvirt

PREFIX = 'cperf-'
NOVA_NS = 'http://openstack.org/xmlns/libvirt/nova/1.1'
NOVA = '{%s}' % NOVA_NS
FIXTURES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))), 'tests', 'fixtures', 'nova')
NEW_SHAPE = '34.0.0'      # flavor id, extraSpecs, <nova:image>: nova >= 32
OLD_SHAPE = '31.0.0'      # nova <= 31: none of them
SOFTWARE_EVENTS = ('cpu_clock', 'task_clock', 'page_faults',
                   'context_switches', 'cpu_migrations', 'page_faults_min',
                   'page_faults_maj', 'alignment_faults', 'emulation_faults')
PROJECT_ID = '5e0d8ce4c0a8436fb8b1bd4e50c1e1d1'
USER_ID = '7f1b5b5a3f5a4d4e9b1a2c3d4e5f6a7b'

ElementTree.register_namespace('nova', NOVA_NS)


@dataclasses.dataclass
class Guest:
    name: str                     # nova display name (and domain name)
    pmu: str = None               # <pmu state>: 'on', 'off'; None: nova's
    cpu_mode: str = None          # libvirt <cpu mode>; None: nova's
    events: tuple = SOFTWARE_EVENTS
    flavor_pmu: str = None        # flavor extra spec hw:pmu; None: nova's
    nova_metadata: bool = True
    memory_mib: int = 40
    uuid: str = None
    # The Keystone ids in <nova:owner>; project_id None: no <nova:owner>.
    project_id: str = PROJECT_ID
    user_id: str = USER_ID
    nova_version: str = NEW_SHAPE  # which nova's XML (tests/fixtures/nova)
    nova_case: str = 'unset-host-model'   # ... and which of its cases
    display_name: str = None      # nova display name when not `name`

    def __post_init__(self):
        if self.uuid is None:
            self.uuid = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL,
                                          'ceilometer-perf/' + self.name))

    @property
    def domain_name(self):
        return PREFIX + self.name

    @property
    def flavor_name(self):
        return 'm1.tcg'

    @property
    def flavor_id(self):
        """The id nova >= 32 writes; older nova writes none."""
        return 'tcg-%d' % self.memory_mib


# The demo's and the functional tests' guests, as nova 34 writes them on
# x86: vPMU asked on and off by the flavor's hw:pmu, and not asked (nova's
# default CPU mode host-model, which libvirt runs as a named model: QEMU
# gives those no PMU).
DEFAULT_GUESTS = (
    Guest('pmu-on', pmu='on', flavor_pmu='true'),
    Guest('pmu-off', pmu='off', flavor_pmu='false',
          events=('cpu_clock', 'task_clock', 'page_faults',
                  'context_switches')),
    Guest('pmu-unset'),
)


def nova_xml(version, case):
    """The domain XML nova `version` wrote for `case`, as text."""
    with open(os.path.join(FIXTURES, version, case + '.xml'),
              encoding='utf-8') as f:
        return f.read()


def _set(parent, tag, text):
    node = parent.find(tag)
    if node is not None:
        node.text = text


def _nova_metadata(root, guest):
    metadata = root.find('./metadata')
    inst = metadata.find(NOVA + 'instance')
    if not guest.nova_metadata:
        root.remove(metadata)
        return
    inst.find(NOVA + 'name').text = guest.display_name or guest.name
    flavor = inst.find(NOVA + 'flavor')
    flavor.set('name', guest.flavor_name)
    if flavor.get('id') is not None:
        flavor.set('id', guest.flavor_id)
    _set(flavor, NOVA + 'memory', str(guest.memory_mib))
    _set(flavor, NOVA + 'disk', '0')
    specs = flavor.find(NOVA + 'extraSpecs')
    if specs is not None and guest.flavor_pmu is not None:
        for spec in specs.findall(NOVA + 'extraSpec'):
            if spec.get('name') == 'hw:pmu':
                specs.remove(spec)
        spec = ElementTree.SubElement(specs, NOVA + 'extraSpec',
                                      name='hw:pmu')
        spec.text = guest.flavor_pmu
    owner = inst.find(NOVA + 'owner')
    if guest.project_id is None:
        inst.remove(owner)      # No <nova:owner>: no sample, ever.
        return
    owner.find(NOVA + 'user').set('uuid', guest.user_id)
    owner.find(NOVA + 'project').set('uuid', guest.project_id)


def domain_xml(guest):
    """The guest's domain XML: nova's, made bootable under TCG here."""
    text = nova_xml(guest.nova_version, guest.nova_case)
    root = ElementTree.fromstring(text)  # noqa: S314 - our own fixtures
    root.set('type', 'qemu')
    root.find('./name').text = guest.domain_name
    root.find('./uuid').text = guest.uuid
    for entry in root.findall('./sysinfo/system/entry'):
        if entry.get('name') in ('serial', 'uuid'):
            entry.text = guest.uuid
    root.find('./memory').text = str(guest.memory_mib * 1024)
    _nova_metadata(root, guest)
    features = root.find('./features')
    if guest.pmu is not None:
        for pmu in features.findall('pmu'):
            features.remove(pmu)
        ElementTree.SubElement(features, 'pmu', state=guest.pmu)
    if guest.cpu_mode is not None:
        cpu = root.find('./cpu')
        for child in list(cpu):
            if child.tag != 'topology':
                cpu.remove(child)
        cpu.attrib.clear()
        cpu.set('mode', guest.cpu_mode)
    devices = root.find('./devices')
    for tag in ('disk', 'interface', 'graphics'):
        for node in devices.findall(tag):
            devices.remove(node)
    for serial in devices.findall('serial'):
        for log in serial.findall('log'):
            serial.remove(log)
    perf = root.find('./perf')
    if perf is None:
        perf = ElementTree.SubElement(root, 'perf')
    for event in list(perf):
        perf.remove(event)
    for name in guest.events:
        ElementTree.SubElement(perf, 'event', name=name, enabled='yes')
    return ElementTree.tostring(root, encoding='unicode')


def connect(uri='qemu:///system'):
    # Errors are handled here; keep libvirt from printing them too.
    libvirt.registerErrorHandler(lambda ctx, err: None, None)
    return libvirt.open(uri)


def start(conn, guests=DEFAULT_GUESTS):
    """Start the guests (transient) that are not running yet."""
    for guest in guests:
        try:
            conn.lookupByName(guest.domain_name)
            continue
        except libvirt.libvirtError:
            pass
        conn.createXML(domain_xml(guest), 0)


def stop_all(conn):
    """Destroy every guest this tooling started (by name prefix)."""
    stopped = []
    for dom in conn.listAllDomains():
        if dom.name().startswith(PREFIX):
            try:
                if dom.isActive():
                    dom.destroy()
                if dom.isPersistent():
                    dom.undefine()
            except libvirt.libvirtError:
                continue
            stopped.append(dom.name())
    return stopped


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('action', choices=['up', 'down', 'list'])
    parser.add_argument('--uri', default='qemu:///system')
    args = parser.parse_args(argv)
    conn = connect(args.uri)
    if args.action == 'up':
        start(conn)
        time.sleep(1)
    elif args.action == 'down':
        for name in stop_all(conn):
            print('removed %s' % name)
        return 0
    for dom in conn.listAllDomains():
        if dom.name().startswith(PREFIX):
            print('%s %s %s' % (dom.name(), dom.UUIDString(),
                                'running' if dom.isActive() else 'stopped'))
    return 0


if __name__ == '__main__':
    sys.exit(main())

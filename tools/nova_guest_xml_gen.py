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

"""Build guest XML with nova's own libvirt driver (run in a nova venv).

This script is passed to the python of a venv that has nova installed
(tools/nova_guest_xml.py makes those venvs).  It reads the case matrix as
JSON from argv[1] and writes {case name: domain XML} as JSON to argv[2].

The XML comes from nova's own code, end to end: each case is one call of
LibvirtDriver._get_guest_xml() -- the function nova-compute calls when it
spawns or hard-reboots an instance -- under nova's own fake-libvirt unit
test harness (nova.test.NoDBTestCase, nova.tests.fixtures.LibvirtFixture),
so no DB, no libvirtd and no cloud are needed.  Inside it the driver runs
_get_guest_config(), which calls get_instance_driver_metadata() and
_get_guest_config_meta() (<metadata><nova:instance>), _set_features()
(<features>, <pmu> from hardware.get_pmu_constraint), _get_guest_cpu_config()
(<cpu mode>) and adds the perf events that _get_supported_perf_events()
kept, as nova-compute's init_host() does.  Only the inputs are ours: a
nova Instance, Flavor and ImageMeta built in memory, fixed uuids, a fixed
creation time, the host's architecture (os.uname), O_DIRECT support of
instances_path (yes), and the VIR_PERF_PARAM_* constants libvirt-python has
(the fake libvirt module lacks them).
"""

import json
import sys
import types
import unittest

import fixtures
import os_vif
from oslo_config import cfg

from nova import context
from nova import objects
from nova import test
from nova import utils
from nova.network import model as network_model
from nova.tests import fixtures as nova_fixtures
from nova.tests.fixtures import libvirt as fakelibvirt
from nova.virt import fake
from nova.virt.libvirt import blockinfo
from nova.virt.libvirt import driver as libvirt_driver
from nova.virt.libvirt import imagebackend

CONF = cfg.CONF

# 2026-01-01 00:00:00 UTC: the <nova:creationTime> of every fixture.
CREATION_TIME = 1767225600.0

# libvirt-python's perf event constants (VIR_PERF_PARAM_<EVENT> = 'event'),
# which nova's _get_supported_perf_events() looks up; nova's fake libvirt
# module does not define them.
LIBVIRT_PERF_EVENTS = (
    'cmt', 'mbmt', 'mbml', 'cpu_cycles', 'instructions', 'cache_references',
    'cache_misses', 'branch_instructions', 'branch_misses', 'bus_cycles',
    'stalled_cycles_frontend', 'stalled_cycles_backend', 'ref_cpu_cycles',
    'cpu_clock', 'task_clock', 'page_faults', 'context_switches',
    'cpu_migrations', 'page_faults_min', 'page_faults_maj',
    'alignment_faults', 'emulation_faults')

CASES = None     # set from argv[1]
RESULTS = {}


def _network_info(case):
    ips = [network_model.FixedIP(address=case['ip'], version=4, type='fixed')]
    subnet = network_model.Subnet(
        cidr='10.0.0.0/24', ips=ips,
        gateway=network_model.IP(address='10.0.0.1', type='gateway',
                                 version=4))
    network = network_model.Network(
        id=case['network_id'], bridge='br-int', label='private',
        subnets=[subnet])
    # An ML2/OVN (or OVS) port, as neutron hands it to nova.
    vif = network_model.VIF(
        id=case['port_id'], address=case['mac'], network=network,
        type=network_model.VIF_TYPE_OVS,
        devname='tap' + case['port_id'][:11],
        ovs_interfaceid=case['port_id'], vnic_type='normal',
        details={'port_filter': True, 'datapath_type': 'system',
                 'bridge_name': 'br-int'})
    return network_model.NetworkInfo([vif])


def _instance(ctxt, case):
    flavor = objects.Flavor(
        id=case['flavor']['db_id'], flavorid=case['flavor']['id'],
        name=case['flavor']['name'], memory_mb=case['flavor']['memory_mb'],
        vcpus=case['flavor']['vcpus'], root_gb=case['flavor']['root_gb'],
        ephemeral_gb=0, swap=0, vcpu_weight=None, rxtx_factor=1.0,
        extra_specs=dict(case['flavor']['extra_specs']))
    image = case['image']
    # What nova's compute API stores when it creates the instance: the
    # image properties as str() into system_metadata (image_*), the owner
    # names, and the base image ref.
    system_metadata = utils.get_system_metadata_from_image(image, flavor)
    system_metadata.update({
        'image_base_image_ref': image['id'],
        'image_name': image['name'],
        'owner_user_name': case['owner']['user_name'],
        'owner_project_name': case['owner']['project_name'],
    })
    inst = objects.Instance(
        ctxt, id=case['instance_id'], uuid=case['uuid'],
        display_name=case['display_name'], hostname=case['hostname'],
        user_id=case['owner']['user_id'],
        project_id=case['owner']['project_id'],
        image_ref=image['id'], root_gb=flavor.root_gb, ephemeral_gb=0,
        memory_mb=flavor.memory_mb, vcpus=flavor.vcpus,
        instance_type_id=flavor.id, flavor=flavor, old_flavor=None,
        new_flavor=None, system_metadata=system_metadata,
        pci_devices=objects.PciDeviceList(), numa_topology=None,
        config_drive=None, vm_mode=None, vm_state=None, task_state=None,
        kernel_id=None, ramdisk_id=None, os_type='linux',
        ephemeral_key_uuid=None, vcpu_model=None, host='compute-0',
        node='compute-0', trusted_certs=None, resources=None,
        migration_context=None, cleaned=False, key_data=None,
        metadata={}, info_cache=objects.InstanceInfoCache(
            network_info=_network_info(case)))
    return inst


class GuestXML(test.NoDBTestCase):
    """One 'test' that builds every case's XML through the driver."""

    REQUIRES_LOCKING = True

    def setUp(self):
        # As nova's own LibvirtConnTestCase.setUp does.
        super().setUp()
        self.context = context.get_admin_context()
        # nova's default instances_path (paths in <disk>, <serial>): the
        # driver only names files there while it builds the XML.
        self.flags(instances_path='/var/lib/nova/instances')
        temp_dir = self.useFixture(fixtures.TempDir()).path
        self.flags(snapshots_directory=temp_dir, group='libvirt')
        os_vif.initialize()
        self.stub_out('nova.virt.disk.api.extend',
                      lambda image, size, use_cow=False: None)
        self.stub_out('nova.virt.libvirt.imagebackend.Image.'
                      'resolve_driver_format',
                      imagebackend.Image._get_driver_format)
        self.libvirt = self.useFixture(nova_fixtures.LibvirtFixture())
        self.useFixture(nova_fixtures.CGroupsFixture())
        self.stub_out('nova.objects.InstanceList.get_by_host',
                      lambda *a, **k: objects.InstanceList(objects=[]))
        for event in LIBVIRT_PERF_EVENTS:
            self.useFixture(fixtures.MonkeyPatch(
                'nova.tests.fixtures.libvirt.VIR_PERF_PARAM_' + event.upper(),
                event))
        # Whether instances_path takes O_DIRECT decides the disk cache mode
        # (none, else writeback); answer as a local ext4/xfs would, not as
        # the machine running this happens to.
        self.stub_out('nova.privsep.utils.supports_direct_io',
                      lambda dirpath: True)
        # get_instance_driver_metadata() stamps time.time(): fix it.
        self.useFixture(fixtures.MonkeyPatch(
            'nova.virt.driver.time',
            types.SimpleNamespace(time=lambda: CREATION_TIME)))

    def test_generate(self):
        for case in CASES:
            RESULTS[case['name']] = self._xml(case)

    def _xml(self, case):
        # The host's architecture, which nova reads from os.uname().
        self.libvirt.mock_uname.return_value = fakelibvirt.os_uname(
            'Linux', '', '6.8.0-0-generic', '', case['arch'])
        self.flags(virt_type='kvm', group='libvirt')
        self.flags(enabled_perf_events=case['enabled_perf_events'],
                   group='libvirt')
        self.flags(cpu_mode=case['cpu_mode'],
                   cpu_models=case['cpu_models'], group='libvirt')
        drvr = libvirt_driver.LibvirtDriver(fake.FakeVirtAPI(), False)
        # What LibvirtDriver.init_host() does when nova-compute starts.
        drvr._supported_perf_events = drvr._get_supported_perf_events()
        instance = _instance(self.context, case)
        image_meta = objects.ImageMeta.from_dict(case['image'])
        disk_info = blockinfo.get_disk_info(
            CONF.libvirt.virt_type, instance, image_meta)
        return drvr._get_guest_xml(
            self.context, instance, instance.info_cache.network_info,
            disk_info, image_meta)


def main():
    global CASES
    with open(sys.argv[1], encoding='utf-8') as f:
        CASES = json.load(f)
    result = unittest.TextTestRunner(stream=sys.stderr, verbosity=2).run(
        unittest.TestSuite([GuestXML('test_generate')]))
    if not result.wasSuccessful() or len(RESULTS) != len(CASES):
        sys.exit('nova failed to build the guest XML (see above)')
    with open(sys.argv[2], 'w', encoding='utf-8') as f:
        json.dump(RESULTS, f, ensure_ascii=False, indent=1, sort_keys=True)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
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

"""Record guest XML made by nova's own libvirt driver as test fixtures.

    python3 tools/nova_guest_xml.py

For each nova version this installs nova from PyPI into its own throwaway
venv, .venv-nova-<major>/ at the top of the repository (git-ignored, kept
as a cache; delete it to reinstall), with the few packages nova's unit test
harness needs.  It then runs tools/nova_guest_xml_gen.py with that venv's
python: the generator builds each case's domain XML by calling nova's
LibvirtDriver._get_guest_xml() under nova's fake-libvirt test harness (no
DB, no libvirtd).  The XML is written as nova returned it to
tests/fixtures/nova/<version>/<case>.xml, after an XML comment naming the
version and the case, and tests/fixtures/nova/INDEX.json records each
case's inputs and the facts they imply.  Everything is fixed (uuids, MACs,
creation time), so a second run rewrites the same bytes.

nova 31.0.0 (2025.1) and 34.0.0 (2026.2) are the oldest and newest shapes
that matter: flavor@id, <nova:extraSpecs> and <nova:image> are written from
nova 32 (2025.2) on.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GENERATOR = os.path.join(ROOT, 'tools', 'nova_guest_xml_gen.py')
OUT = os.path.join(ROOT, 'tests', 'fixtures', 'nova')
VERSIONS = ('31.0.0', '34.0.0')
# nova's unit test harness (nova.test, nova.tests.fixtures) needs these on
# top of nova's own requirements; they do not shape the XML.
HARNESS = ('fixtures==4.3.2', 'oslotest==6.1.1', 'testtools==2.9.1',
           'wsgi-intercept==1.13.1')

NS = uuid.UUID('6f3d4a8e-2c1b-4e5f-9a7d-0b8c1e2f3a4d')
IMAGE_ID = '155d900f-4e14-4e4c-a73d-069cbf4541e6'
OWNER = {'user_id': '7f1b5b5a3f5a4d4e9b1a2c3d4e5f6a7b',
         'user_name': 'alice',
         'project_id': '5e0d8ce4c0a8436fb8b1bd4e50c1e1d1',
         'project_name': 'demo'}
# [libvirt] enabled_perf_events on the compute host; nova keeps the first
# five and drops cmt, mbmt and mbml (with a warning) on every kernel.
PERF_EVENTS = ['cpu_cycles', 'instructions', 'cache_misses', 'cpu_clock',
               'context_switches', 'cmt', 'mbmt', 'mbml']
DROPPED_BY_NOVA = ('cmt', 'mbmt', 'mbml')
MANY_SPECS = {'hw:pmu': 'yes',
              'quota:cpu_shares': '2048',
              'hw:watchdog_action': 'reset',
              'hw_rng:allowed': 'True',
              'trait:HW_CPU_X86_AVX2': 'required',
              'aggregate_instance_extra_specs:ssd': 'true'}

# name: (description, flavor extra specs, image properties as glance
# returns them (strings), cpu_mode, cpu_models, extra overrides)
MATRIX = (
    ('flavor-pmu-true', 'flavor hw:pmu=true, default cpu_mode',
     {'hw:pmu': 'true'}, {}, 'host-model', [], {}),
    ('flavor-pmu-false', 'flavor hw:pmu=false, default cpu_mode',
     {'hw:pmu': 'false'}, {}, 'host-model', [], {}),
    ('flavor-pmu-yes-many-specs',
     'flavor hw:pmu=yes (nova accepts it) among several extra specs',
     MANY_SPECS, {}, 'host-model', [], {}),
    ('flavor-pmu-false-host-passthrough',
     'flavor hw:pmu=false overrides host-passthrough',
     {'hw:pmu': 'false'}, {}, 'host-passthrough', [], {}),
    ('flavor-pmu-true-custom-model', 'flavor hw:pmu=true on a named model',
     {'hw:pmu': 'true'}, {}, 'custom', ['Penryn'], {}),
    ('image-pmu-true', 'image hw_pmu=true, nothing in the flavor',
     {}, {'hw_pmu': 'true'}, 'host-model', [], {}),
    ('image-pmu-false', 'image hw_pmu=false, nothing in the flavor',
     {}, {'hw_pmu': 'false'}, 'host-model', [], {}),
    ('unset-host-model', 'no hw:pmu/hw_pmu, cpu_mode host-model (x86 '
     'default)', {}, {}, 'host-model', [], {}),
    ('unset-host-passthrough', 'no hw:pmu/hw_pmu, cpu_mode host-passthrough',
     {}, {}, 'host-passthrough', [], {}),
    ('unset-custom-model', 'no hw:pmu/hw_pmu, cpu_mode custom, model Penryn',
     {}, {}, 'custom', ['Penryn'], {}),
    ('non-ascii-names', 'non-ASCII and XML-special display, owner and '
     'flavor names', {'hw:pmu': 'true'}, {}, 'host-model', [],
     {'display_name': 'Sérveur ウェブ <α&β> "q"',
      'hostname': 'serveur-web',
      'flavor_name': 'm1.pétit',
      'user_name': 'Zoë', 'project_name': 'projet-été'}),
    ('no-perf-events', 'enabled_perf_events empty: no <perf> at all',
     {}, {}, 'host-model', [], {'enabled_perf_events': []}),
    ('aarch64-unset-default', 'aarch64 host, no hw:pmu/hw_pmu, cpu_mode '
     'unset (aarch64 default host-passthrough)', {}, {}, None, [],
     {'arch': 'aarch64'}),
    ('aarch64-unset-custom', 'aarch64 host, no hw:pmu/hw_pmu, cpu_mode '
     'custom without cpu_models (nova uses model max)', {}, {}, 'custom',
     [], {'arch': 'aarch64'}),
)
# nova's cpu_mode default for kvm/qemu, by host architecture.
DEFAULT_CPU_MODE = {'x86_64': 'host-model', 'aarch64': 'host-passthrough'}

LIBVIRT_AT_START = (
    "A running libvirt domain shows cpu mode='host-model' as "
    "mode='custom' with the expanded <model> and features (libvirt "
    "rewrites it at start); these files hold nova's XML as nova wrote "
    "it, before libvirt sees it.")


def _uuid(*parts):
    return str(uuid.uuid5(NS, '/'.join(parts)))


def cases():
    out = []
    for number, (name, description, specs, props, cpu_mode, cpu_models,
                 extra) in enumerate(MATRIX, 1):
        image = {'id': IMAGE_ID, 'name': 'cirros-0.6.3',
                 'disk_format': 'qcow2', 'container_format': 'bare',
                 'min_disk': 0, 'min_ram': 0, 'properties': dict(props)}
        owner = dict(OWNER)
        for key in ('user_name', 'project_name'):
            owner[key] = extra.get(key, owner[key])
        out.append({
            'name': name, 'description': description,
            'instance_id': number, 'uuid': _uuid('instance', name),
            'display_name': extra.get('display_name', 'vm-' + name),
            'hostname': extra.get('hostname', 'vm-' + name),
            'ip': '10.0.0.%d' % (10 + number),
            'network_id': _uuid('network'),
            'port_id': _uuid('port', name),
            'mac': 'fa:16:3e:00:00:%02x' % number,
            'flavor': {'db_id': 7, 'id': '42',
                       'name': extra.get('flavor_name', 'm1.small'),
                       'memory_mb': 512, 'vcpus': 1, 'root_gb': 1,
                       'extra_specs': dict(specs)},
            'image': image, 'owner': owner,
            'enabled_perf_events': extra.get('enabled_perf_events',
                                             PERF_EVENTS),
            'cpu_mode': cpu_mode, 'cpu_models': cpu_models,
            'arch': extra.get('arch', 'x86_64'),
        })
    return out


def _bool(text):
    # nova's strutils.bool_from_string (not strict) for hw:pmu / hw_pmu
    return text.strip().lower() in ('1', 't', 'true', 'on', 'y', 'yes')


def expected(case, major):
    """The facts a case implies, from what nova is documented to do."""
    specs = case['flavor']['extra_specs']
    props = case['image']['properties']
    asked = None
    for raw in (specs.get('hw:pmu'), props.get('hw_pmu')):
        if raw is not None:
            asked = _bool(raw)
    pmu = None if asked is None else ('on' if asked else 'off')
    arch = case['arch']
    mode = case['cpu_mode'] or DEFAULT_CPU_MODE[arch]
    model = case['cpu_models'][0] if case['cpu_models'] else None
    if mode == 'custom' and model is None and arch == 'aarch64':
        model = 'max'           # nova's choice on aarch64
    if asked is None:
        # Not in the XML: QEMU decides from the CPU model.  x86: a vPMU
        # for host-passthrough only (host-model and named models have
        # none).  aarch64: host and max (and the named Arm cores) have one.
        enabled = (mode == 'host-passthrough' if arch == 'x86_64'
                   else True)
        vpmu = {'enabled': enabled, 'decided_by': 'inferred',
                'cpu_mode': mode}
    else:
        vpmu = {'enabled': asked, 'decided_by': 'explicit', 'cpu_mode': mode}
    new_shape = major >= 32
    facts = {
        'display_name': case['display_name'],
        'arch': arch,
        'cpu_mode': mode,
        'cpu_model': model,
        # What a running domain's XML shows: libvirt rewrites host-model
        # to custom (with the expanded model) when it starts the guest.
        'cpu_mode_running': 'custom' if mode == 'host-model' else mode,
        'pmu_state': pmu,
        'vpmu': vpmu,
        'perf_events': [e for e in case['enabled_perf_events']
                        if e not in DROPPED_BY_NOVA],
        'flavor_id': case['flavor']['id'] if new_shape else None,
        'nova_metadata_missing': [] if new_shape else ['flavor id'],
        # extraSpecs and image exist from nova 32 on; image property
        # values are str() of the typed value (a bool: True/False).
        'extra_specs': dict(specs) if new_shape else None,
        'image_properties': ({k: str(_bool(v)) for k, v in props.items()}
                             if new_shape else None),
    }
    return facts


def _python(version):
    venv = os.path.join(ROOT, '.venv-nova-' + version.split('.')[0])
    python = os.path.join(venv, 'bin', 'python')
    stamp = os.path.join(venv, '.installed')
    wanted = ' '.join(('nova==' + version,) + HARNESS)
    if os.path.exists(stamp):
        with open(stamp, encoding='utf-8') as f:
            if f.read().strip() == wanted:
                return python
    print('installing nova %s into %s' % (version, venv), file=sys.stderr)
    subprocess.run([sys.executable, '-m', 'venv', '--clear', venv],
                   check=True)
    subprocess.run([python, '-m', 'pip', 'install', '-q'] + wanted.split(),
                   check=True)
    with open(stamp, 'w', encoding='utf-8') as f:
        f.write(wanted + '\n')
    return python


def generate(version, all_cases):
    python = _python(version)
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, 'cases.json')
        dst = os.path.join(tmp, 'xml.json')
        with open(src, 'w', encoding='utf-8') as f:
            json.dump(all_cases, f)
        log = os.path.join(tmp, 'log')
        with open(log, 'w', encoding='utf-8') as err:
            run = subprocess.run([python, GENERATOR, src, dst], stderr=err,
                                 stdout=err, cwd=tmp, check=False)
        if run.returncode:
            with open(log, encoding='utf-8') as f:
                sys.stderr.write(f.read())
            sys.exit('nova %s: the generator failed' % version)
        with open(dst, encoding='utf-8') as f:
            return json.load(f)


def _header(version, case):
    text = ('Generated by nova %s (LibvirtDriver._get_guest_xml) with '
            'tools/nova_guest_xml.py; case %s: %s. Do not edit.'
            % (version, case['name'], case['description']))
    return '<!-- %s -->\n' % text.replace('--', '-')


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.split('\n')[0]).parse_args(
        argv)
    versions = list(VERSIONS)
    all_cases = cases()
    index = {'generator': 'tools/nova_guest_xml.py',
             'nova_versions': versions,
             'note': LIBVIRT_AT_START,
             'cases': {}}
    for case in all_cases:
        inputs = {k: case[k] for k in (
            'description', 'display_name', 'uuid', 'arch', 'cpu_mode',
            'cpu_models', 'enabled_perf_events')}
        inputs['flavor_extra_specs'] = case['flavor']['extra_specs']
        inputs['image_properties'] = case['image']['properties']
        index['cases'][case['name']] = {'inputs': inputs, 'expected': {}}
    for version in versions:
        xml = generate(version, all_cases)
        folder = os.path.join(OUT, version)
        os.makedirs(folder, exist_ok=True)
        for old in os.listdir(folder):
            if old.endswith('.xml'):
                os.unlink(os.path.join(folder, old))
        major = int(version.split('.')[0])
        for case in all_cases:
            path = os.path.join(folder, case['name'] + '.xml')
            with open(path, 'w', encoding='utf-8', newline='\n') as f:
                f.write(_header(version, case))
                f.write(xml[case['name']])
                if not xml[case['name']].endswith('\n'):
                    f.write('\n')
            index['cases'][case['name']]['expected'][version] = expected(
                case, major)
    with open(os.path.join(OUT, 'INDEX.json'), 'w', encoding='utf-8',
              newline='\n') as f:
        json.dump(index, f, ensure_ascii=False, indent=2, sort_keys=True)
        f.write('\n')
    print('wrote %d cases x %d nova versions under %s'
          % (len(all_cases), len(versions), os.path.relpath(OUT, ROOT)))


if __name__ == '__main__':
    main()

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

"""Ceilometer's real polling agent, in-process, keeping what it publishes.

The operator command, the functional and e2e tests and the benchmark all
drive the plugin through this: Ceilometer's own entry point loading,
discovery, polling tasks and thread pools.  Only the publishing end
differs: samples are kept in memory instead of being sent to a message
bus.
"""

import os
import shutil
import tempfile

import yaml
from ceilometer import service
from ceilometer.polling import manager as polling_manager
from stevedore import extension

from ceilometer_perf import discovery
from ceilometer_perf import opts
from ceilometer_perf.resctrl import privileged

CACHED_DISCOVERY = 'local_instances_cached'


class SampleRecorder:
    """Stands in for the oslo.messaging notifier at the publishing end."""

    def __init__(self):
        self.samples = []

    def sample(self, ctxt, event_type, payload):
        self.samples.extend(payload['samples'])


class LocalAgent:
    """A polling agent for the given polling.yaml sources.

    conf: a prepared Ceilometer ConfigOpts, or None to build one with
    `config_overrides` ({(group, option): value}).
    """

    def __init__(self, sources, conf=None, config_overrides=None):
        # An operator's terminal is no place for sudo to prompt: the
        # tooling reconciles resctrl groups only in-process (as root).
        privileged.PRIVSEP_ALLOWED = False
        self._dir = tempfile.mkdtemp(prefix='ceilometer-perf-')
        polling_file = os.path.join(self._dir, 'polling.yaml')
        with open(polling_file, 'w') as f:
            yaml.safe_dump({'sources': sources}, f)
        if conf is None:
            conf = service.prepare_service([], [])
        opts.register_opts(conf)
        for (group, name), value in (config_overrides or {}).items():
            conf.set_override(name, value,
                              group=None if group == "DEFAULT" else group)
        conf.set_override('cfg_file', polling_file, group='polling')
        conf.set_override('enable_notifications', True, group='polling')
        conf.set_override('enable_prometheus_exporter', False,
                          group='polling')
        self.conf = conf
        self.manager = polling_manager.AgentManager(0, conf,
                                                    namespaces=['compute'])
        ensure_cached_discovery(self.manager, conf)
        self.recorder = SampleRecorder()
        self.manager.notifier = self.recorder
        self.manager.polling_manager = polling_manager.PollingManager(conf)
        self.tasks = self.manager.setup_polling_tasks()

    def poll(self):
        """Run one cycle of every polling task; return the sample dicts."""
        before = len(self.recorder.samples)
        for task in self.tasks.values():
            task.poll_and_notify()
        samples = self.recorder.samples[before:]
        del self.recorder.samples[:]
        return samples

    def close(self):
        shutil.rmtree(self._dir, ignore_errors=True)


def ensure_cached_discovery(manager, conf):
    """Load local_instances_cached by hand if its entry point is unknown.

    The entry point is in setup.cfg; an install older than it (a source
    tree run with PYTHONPATH, an editable install not redone) lacks it,
    and the pollsters' default discovery would find nothing.
    """
    if any(d.name == CACHED_DISCOVERY for d in manager.discoveries):
        return None
    plugin = discovery.CachedInstanceDiscovery
    ext = extension.Extension(CACHED_DISCOVERY, None, plugin, plugin(conf))
    manager.discoveries.append(ext)
    return ext


def on_libvirt(sources, uri, host, config_files=(), overrides=None):
    """A LocalAgent polling the guests of the libvirtd at `uri`.

    As compute node `host`, finding instances with Ceilometer's
    libvirt_metadata discovery (nova's metadata in the domain XML, no nova
    API); `overrides` ({(group, option): value}) go on top.  The tests'
    and the benchmark's agent on local TCG guests.
    """
    conf = service.prepare_service([], list(config_files))
    settings = {
        ('DEFAULT', 'libvirt_type'): 'qemu',
        ('DEFAULT', 'libvirt_uri'): uri,
        ('DEFAULT', 'host'): host,
        ('compute', 'instance_discovery_method'): 'libvirt_metadata',
    }
    settings.update(overrides or {})
    return LocalAgent(sources, conf, settings)

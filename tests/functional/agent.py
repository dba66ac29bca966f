"""Ceilometer's real polling agent, in-process, with a sample recorder.

Everything is Ceilometer's own code (entry point loading, libvirt_metadata
discovery, polling tasks and their thread pools) except the publisher end:
the notifier is replaced by a recorder so no message broker is needed.
"""

import os
import tempfile

import libvirt
import yaml
from ceilometer import service
from ceilometer.polling import manager as polling_manager


class SampleRecorder:
    """Stands in for the oslo.messaging notifier at the publishing end."""

    def __init__(self):
        self.samples = []

    def sample(self, ctxt, event_type, payload):
        self.samples.extend(payload['samples'])


class CallCounter:
    """A libvirt connection proxy counting the calls made through it."""

    def __init__(self, conn, counts):
        self._conn = conn
        self._counts = counts

    def __getattr__(self, name):
        attr = getattr(self._conn, name)
        if not callable(attr):
            return attr

        def counted(*args, **kwargs):
            self._counts[name] = self._counts.get(name, 0) + 1
            return attr(*args, **kwargs)
        return counted


class Agent:
    """One AgentManager polling the given meters; poll() runs one cycle."""

    def __init__(self, sources, uri='qemu:///system'):
        self.dir = tempfile.mkdtemp(prefix='cperf-agent-')
        polling_file = os.path.join(self.dir, 'polling.yaml')
        with open(polling_file, 'w') as f:
            yaml.safe_dump({'sources': sources}, f)
        conf_file = os.path.join(self.dir, 'ceilometer.conf')
        with open(conf_file, 'w') as f:
            f.write('[DEFAULT]\nlibvirt_type = qemu\nlibvirt_uri = %s\n'
                    'host = functional-test\n'
                    '[compute]\ninstance_discovery_method = '
                    'libvirt_metadata\n'
                    '[polling]\ncfg_file = %s\n' % (uri, polling_file))
        self.conf = service.prepare_service([], [conf_file])
        self.manager = polling_manager.AgentManager(0, self.conf,
                                                    namespaces=['compute'])
        self.recorder = SampleRecorder()
        self.manager.notifier = self.recorder
        self.manager.polling_manager = polling_manager.PollingManager(
            self.conf)
        self.tasks = self.manager.setup_polling_tasks()

    def poll(self):
        """One polling cycle of every task; returns the samples sent."""
        before = len(self.recorder.samples)
        for task in self.tasks.values():
            task.poll_and_notify()
        return self.recorder.samples[before:]


def count_libvirt_calls(monkeypatch):
    """Count calls on every read-only connection; forbid read-write ones."""
    counts = {}
    real_open_ro = libvirt.openReadOnly

    def open_ro(uri=None):
        return CallCounter(real_open_ro(uri), counts)

    def refuse_rw(*args, **kwargs):
        raise AssertionError('a read-write libvirt connection was opened')
    monkeypatch.setattr(libvirt, 'openReadOnly', open_ro)
    monkeypatch.setattr(libvirt, 'open', refuse_rw)
    monkeypatch.setattr(libvirt, 'openAuth', refuse_rw)
    return counts


def by_meter(samples):
    """{meter: {display_name: volume}} of our samples."""
    table = {}
    for s in samples:
        name = s['resource_metadata'].get('display_name')
        table.setdefault(s['counter_name'], {})[name] = s['counter_volume']
    return table

"""Helpers for driving the plugin through Ceilometer's polling agent."""

import libvirt

from ceilometer_perf.ops import localagent


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


def Agent(sources, uri='qemu:///system', config_files=(), overrides=None):
    """A LocalAgent on the given URI, with libvirt_metadata discovery."""
    return localagent.on_libvirt(sources, uri, 'functional-test',
                                 config_files, overrides)


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

"""Helpers for driving the plugin through Ceilometer's polling agent."""

from ceilometer_perf.ops import localagent


def Agent(sources, uri='qemu:///system', config_files=(), overrides=None):
    """A LocalAgent on the given URI, with libvirt_metadata discovery."""
    return localagent.on_libvirt(sources, uri, 'functional-test',
                                 config_files, overrides)


def by_meter(samples):
    """{meter: {display_name: volume}} of our samples."""
    table = {}
    for s in samples:
        name = s['resource_metadata'].get('display_name')
        table.setdefault(s['counter_name'], {})[name] = s['counter_volume']
    return table

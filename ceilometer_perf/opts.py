"""oslo.config options of the plugin (listed by oslo-config-generator).

The libvirt URI itself is Ceilometer's: [DEFAULT] libvirt_type and
libvirt_uri, so the plugin always watches the hypervisor the agent does.
"""

from oslo_config import cfg

GROUP = 'ceilometer_perf'

OPTS = [
    cfg.BoolOpt('stats_nowait',
                default=True,
                help='Ask libvirt not to wait for a domain that is busy with '
                     'another job (VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT), '
                     'so one busy instance never delays the polling cycle. '
                     'Such an instance may miss some values in that cycle.'),
]


def register_opts(conf):
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return [(GROUP, OPTS)]

"""Per-instance hardware counters for OpenStack Telemetry.

Pollsters for Ceilometer's compute agent that read libvirt perf counters
and vPMU state for every instance with one bulk libvirt call per cycle.
"""

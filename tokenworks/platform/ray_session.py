"""Connecting to Ray: an existing cluster when one is named, otherwise a light local instance.

Inside `ray job submit` (and whenever the user exports it) `RAY_ADDRESS` names the cluster, and `ray.init()`
connects to it. Otherwise we start a private local instance: loopback only, no dashboard, as many CPUs as
the machine has (or `TOKENWORKS_RAY_CPUS`), so that a plain `tokenworks reproduce` on a laptop starts in
seconds. To use a cluster started by hand with `ray start --head`, export `RAY_ADDRESS=auto`.
"""

from __future__ import annotations

import logging
import os

import ray

CPUS_ENV = "TOKENWORKS_RAY_CPUS"
TEMP_DIR_ENV = "TOKENWORKS_RAY_TMPDIR"


def ensure_ray(log_to_driver: bool = True) -> bool:
    """Initialise Ray once per process; True when this call started a new local instance."""
    if ray.is_initialized():
        return False
    quiet = dict(log_to_driver=log_to_driver, logging_level=logging.WARNING)
    if os.environ.get("RAY_ADDRESS"):
        ray.init(**quiet)
        return False
    ray.init(address="local", **local_instance_options(), **quiet)
    return True


def local_instance_options() -> dict:
    """Keyword arguments for a private local instance: loopback, no dashboard, modest CPU count."""
    options: dict = {
        "num_cpus": int(os.environ.get(CPUS_ENV) or os.cpu_count() or 1),
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        # Ray starts workers at niceness 15 by default; here the workers do the work while the driver waits,
        # and on a busy machine a niced actor decodes ~1.5x slower than the same code in the driver
        "_system_config": {"worker_niceness": 0},
    }
    if os.environ.get(TEMP_DIR_ENV):
        # unix socket paths under the temp dir must stay short (< 108 bytes), so tests pick /tmp/...
        options["_temp_dir"] = os.environ[TEMP_DIR_ENV]
    return options


def shutdown_ray() -> None:
    if ray.is_initialized():
        ray.shutdown()

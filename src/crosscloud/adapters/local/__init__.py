"""The local target, the embedded default cloud: replicas as processes on this machine,
and the process facts (pid and start time) it relies on."""

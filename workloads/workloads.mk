# Reference workloads: each scenario (and the load generator) lives in its own directory
# with a build.mk fragment of its own.
include $(wildcard workloads/*/build.mk)

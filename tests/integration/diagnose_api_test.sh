#!/bin/bash
# allocscope diagnose on the reference workload api-burst: `allocator-retention` under
# glibc:default, `healthy` under jemalloc:bg-decay, and the retaining cell's suggestion names
# the configuration that did not retain. How it is recorded: tests/helpers/diagnose_lib.sh.
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"
source "$(dirname "$0")/../helpers/diagnose_lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ]; then
    skip "diagnose" "build/bin/allocscope or the shim is not built"
    finish
fi

diagnose_workloads api-burst
finish

#!/bin/bash
# allocscope diagnose on plain runs of tests/helpers/diag_retainer (leak, buffer, flat, a
# bounded step, no stacks), on a kernel-only recording, and on bad input. The reference
# workloads' verdicts are in diagnose_workloads_test.sh, diagnose_streams_test.sh and
# diagnose_api_test.sh.
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"
source "$(dirname "$0")/../helpers/diagnose_lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ]; then
    skip "diagnose" "build/bin/allocscope or the shim is not built"
    finish
fi

plain_runs
kernel_only
bad_input
finish

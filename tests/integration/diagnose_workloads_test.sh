#!/bin/bash
# allocscope diagnose on the reference workloads stream-proxy and bulk-download: every leaky
# variant `leak` or `unbounded-buffering` naming its documented site, every fixed variant
# `healthy`. How they are recorded: tests/helpers/diagnose_lib.sh.
source "$(dirname "$0")/../helpers/lib.sh"
source "$(dirname "$0")/../helpers/workloads_lib.sh"
source "$(dirname "$0")/../helpers/diagnose_lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

if [ ! -x "$ALLOCSCOPE" ] || [ ! -f "$SHIM" ]; then
    skip "diagnose" "build/bin/allocscope or the shim is not built"
    finish
fi

diagnose_workloads stream-proxy bulk-download
finish

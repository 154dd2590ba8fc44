# Shared by the BPF tests: whether the kernel lets us load programs, and a way to start
# a target that waits until the probes are attached (as the harness does).
KEVENTS=$BUILD/bin/allocscope-kevents
UPROBES=$BUILD/bin/allocscope-allocuprobe
JEMALLOC=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2
BPF_CHILDREN=()
trap 'for p in "${BPF_CHILDREN[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$TMP" ${PUBLIC:+"$PUBLIC"}' EXIT

# bpf_refusal: empty when BPF loads here, else the reason (one line).
bpf_refusal() {
    if [ ! -x "$KEVENTS" ]; then
        echo "$KEVENTS not built"
        return
    fi
    local out
    out=$("$KEVENTS" --pid $$ --out "$TMP/probe.csv" --duration 1 2>&1 >/dev/null)
    [ $? -eq 3 ] && echo "${out#allocscope-kevents: }"
}

# start_gated NAME ENV... -- CMD...: starts CMD (under env) once $TMP/NAME.go exists;
# sets GATED_PID. The pid is the one CMD gets, since the shell execs it.
start_gated() {
    local name=$1
    shift
    local envs=()
    while [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    (
        while [ ! -e "$TMP/$name.go" ]; do sleep 0.02; done
        exec env "${envs[@]}" "$@"
    ) &
    GATED_PID=$!
    BPF_CHILDREN+=("$GATED_PID")
}

# wait_ready FILE: waits (at most 20 s) for the "ready" line a probe tool prints.
wait_ready() {
    local i
    for i in $(seq 200); do
        grep -q '^ready$' "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# csv_col FILE NAME: the values of column NAME, one per line.
csv_col() {
    awk -F, -v name="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
        c { print $c }' "$1"
}

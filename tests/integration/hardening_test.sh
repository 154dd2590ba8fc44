#!/bin/bash
# Hostile filesystem states and a killed harness: a clean error, never lost or clobbered data.
#   - a bench whose work directory cannot be made (/tmp out of inodes, in a private mount
#     namespace) fails its cell and removes nothing it did not create;
#   - run --out an earlier recording is refused (exit 2) unless --force, which replaces it
#     whole; a directory that is not a recording is never replaced;
#   - a harness killed with SIGKILL takes its target with it, and run.json (written at the
#     start) says the run was running;
#   - names that become path components (targets, variants, workloads, allocators,
#     configurations) are one safe component each, or the bench refuses them before it runs.
. "$(dirname "$0")/../helpers/lib.sh"
use_sanitized # allocscope with ASan/UBSan: any report fails the script

# ---- a failed mkdtemp fails the cell ----
if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    # The namespace hides /tmp, where the checkout itself may be (a mktemp -d checkout):
    # allocscope, the shim and the registry are laid out as installed in /var/tmp, and the
    # bench writes there.
    work=$(mktemp -d /var/tmp/allocscope-hardening.XXXXXX)
    mkdir -p "$work/bin" "$work/lib" "$work/share/allocscope"
    cp "$ALLOCSCOPE" "$work/bin/" && cp "$SHIM" "$work/lib/" &&
        cp "$ROOT/allocators/registry.ini" "$work/share/allocscope/"
    out=$work/out
    unshare -m sh -c '
        mount -t tmpfs -o size=4m,nr_inodes=16 tmpfs /tmp || exit 3
        echo keep >/tmp/keep-me
        i=0; while touch /tmp/fill-$i 2>/dev/null; do i=$((i+1)); done
        "$1" bench -a glibc --target true --idle 0.5 --load-time 2 --cooldown 1.5 -o "$2" \
            >"$2.out" 2>&1
        cat /tmp/keep-me' sh "$work/bin/allocscope" "$out" >"$TMP/ns.out" 2>&1
    expect_eq "a file in /tmp survives a bench whose work directory could not be made" \
        "$(tail -1 "$TMP/ns.out")" "keep"
    check_grep "the cell failed:config, naming why" \
        'failed:config,.*cannot create a work directory in /tmp' "$out/results.csv"
    rm -rf "$work"
else
    skip "a bench with /tmp out of inodes" "needs root and unshare -m (a private mount namespace)"
fi

# ---- run --out an existing directory ----
mkdir -p "$TMP/theirs" && echo precious >"$TMP/theirs/notes.txt"
"$ALLOCSCOPE" run -q --out "$TMP/theirs" -- /bin/true 2>"$TMP/theirs.err"
expect_eq "run --out a non-empty directory: exit 2" "$?" 2
"$ALLOCSCOPE" run -q --force --out "$TMP/theirs" -- /bin/true 2>>"$TMP/theirs.err"
expect_eq "... even with --force when it is not a recording" "$?" 2
expect_eq "... and its file is untouched" "$(cat "$TMP/theirs/notes.txt")" "precious"
"$ALLOCSCOPE" run -q --out "$TMP/rec" -- "$TESTBIN/leaker" 1000 2>/dev/null
"$ALLOCSCOPE" run -q --out "$TMP/rec" -- /bin/true 2>"$TMP/rec.err"
expect_eq "run --out an earlier recording: exit 2" "$?" 2
check_grep "... naming --force" "an earlier recording.*--force" "$TMP/rec.err"
"$ALLOCSCOPE" run -q --force --out "$TMP/rec" -- /bin/true 2>/dev/null
expect_eq "run --force --out an earlier recording replaces it whole" \
    "$?:$(grep -c leak_with "$TMP/rec/stacks.csv" 2>/dev/null):$(sed -n 's/^exe=.*\///p' "$TMP/rec/shim.txt")" \
    "0:0:true"

# ---- planted symbolic links: nothing is written through them ----
mkdir -p "$TMP/planted"
echo original >"$TMP/victim"
ln -s "$TMP/victim" "$TMP/planted/sites.csv"
ALLOCSCOPE_OUT=$TMP/planted LD_PRELOAD=$SHIM "$TESTBIN/leaker" 1000 2>"$TMP/planted.err" >/dev/null
expect_eq "the shim does not write through a planted sites.csv link" "$(cat "$TMP/victim")" "original"
check_grep "... and says it cannot record there" "cannot write to .*planted" "$TMP/planted.err"
mkdir -p "$TMP/planted2"
ln -s "$TMP/victim" "$TMP/planted2/histogram.csv"
ln -s "$TMP/victim" "$TMP/planted2/maps.txt"
ALLOCSCOPE_SAMPLE=all ALLOCSCOPE_OUT=$TMP/planted2 LD_PRELOAD=$SHIM "$TESTBIN/leaker" 1000 \
    >/dev/null 2>&1
expect_eq "files written whole replace a planted link, never its target" \
    "$(cat "$TMP/victim"):$([ -L "$TMP/planted2/histogram.csv" ] && echo link || echo file)" \
    "original:file"

# ---- inconsistent time data: exit 2 naming the file and line, never a crash ----
"$ALLOCSCOPE" run -q --out "$TMP/t-ok" -- "$TESTBIN/diag_field" slowleak 1 2>/dev/null
cp -r "$TMP/t-ok" "$TMP/t-back"
awk -F, 'BEGIN{OFS=","} NR==6{$1=1} {print}' "$TMP/t-ok/samples.csv" >"$TMP/t-back/samples.csv"
"$ALLOCSCOPE" diagnose "$TMP/t-back" >/dev/null 2>"$TMP/t-back.err"
expect_eq "diagnose: samples.csv times going backwards exit 2" "$?" 2
check_grep "... naming the file and line" "samples.csv:6: t_ms" "$TMP/t-back.err"
cp -r "$TMP/t-ok" "$TMP/t-phase"
printf 'phase,start_ms,end_ms\nidle,0,100\nload,900,200\ncooldown,200,300\n' >"$TMP/t-phase/phases.csv"
"$ALLOCSCOPE" diagnose "$TMP/t-phase" >/dev/null 2>"$TMP/t-phase.err"
expect_eq "diagnose: a load that ends before it starts exits 2" "$?" 2
check_grep "... naming the file and line" "phases.csv:3: phase 'load' from 900 to 200 ms is not a span of time" "$TMP/t-phase.err"
"$ALLOCSCOPE" report "$TMP/t-phase" "$TMP/t-back" -o "$TMP/t-report" >/dev/null 2>&1
rc=$?
expect_eq "report on them does not crash" "$([ "$rc" -lt 128 ] && echo no-crash || echo "signal $((rc - 128))")" "no-crash"

# ---- names that become path components ----
# Target, variant, workload, allocator and configuration names make the cell directory
# WORKLOAD-VARIANT-ALLOCATOR-CONFIG-rN under -o: a name that is not one safe path component is
# refused (exit 2, one line) before anything runs, so no directory outside -o is made or removed.
names=$TMP/names
mkdir -p "$names/victim-glibc-default-r1"
echo precious >"$names/victim-glibc-default-r1/notes.txt"
# bad_name NAME WORD BENCH_FILE_TEXT [ARGS...]: bench exits 2 with one line naming WORD, and
# writes nothing: no bench.json, no cell directory.
bad_name() {
    local name=$1 word=$2 text=$3 out=$names/o rc
    shift 3
    rm -rf "$out" && mkdir -p "$out/cells/t-.." # a name with ../ walks through this one
    printf '%s' "$text" >"$names/b.ini"
    "$ALLOCSCOPE" bench "$names/b.ini" -a glibc --quiet -o "$out" "$@" >"$names/out" 2>&1
    rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$names/out")" = 1 ] &&
        grep -q -- "^allocscope: .*$word" "$names/out" && [ ! -e "$out/bench.json" ] &&
        [ -z "$(ls "$out/cells/t-..")" ] && [ "$(ls "$out/cells")" = "t-.." ]; then
        pass "$name: exit 2 naming '$word', nothing run"
    else
        fail "$name" "exit $rc: $(head -c 300 "$names/out"); files: $(cd "$out" && find . | head -5 | tr '\n' ' ')"
    fi
}
bench_text() { # VARIANTS [TARGET]
    printf '[bench]\nrepeats = 1\n[target %s]\ncommand = true\nbatch = true\nvariants = %s\n' \
        "${2:-t}" "$1"
}
bad_name "variant ../../../../victim" "variant '../../../../victim'" \
    "$(bench_text 'a, ../../../../victim')"
expect_eq "... the directory outside -o it would have replaced is untouched" \
    "$(cat "$names/victim-glibc-default-r1/notes.txt" 2>&1)" "precious"
bad_name "variant with a slash" "variant 'a/b'" "$(bench_text 'a/b')"
bad_name "variant .." "variant '\.\.'" "$(bench_text '..')"
bad_name "variant starting with -" "variant '-x'" "$(bench_text '-x')"
bad_name "variant starting with ." "variant '\.x'" "$(bench_text '.x')"
bad_name "variant with a control character" "variant" "$(bench_text "$(printf 'a\033b')")"
long=$(printf 'v%.0s' $(seq 1 49))
bad_name "variant of 49 characters" "variant '$long'" "$(bench_text "$long")"
bad_name "[target .t]" "target '\.t'" "$(bench_text a .t)"
bad_name "[target ..]" "target '\.\.'" "$(bench_text a ..)"
bad_name "workload = ../NAME" "workload '\.\./workloads/api-burst'" \
    "$(printf '[bench]\nrepeats = 1\n[target t]\nworkload = ../workloads/api-burst\n')"
printf '[allocator .hidden]\nlibrary =\n' >"$names/reg1.ini"
bad_name "allocator name starting with ." "allocator '\.hidden'" "$(bench_text a)" \
    --allocators "$names/reg1.ini"
printf '[config glibc:-x]\nenv = A=1\n' >"$names/reg2.ini"
bad_name "configuration name starting with -" "configuration '-x'" "$(bench_text a)" \
    --allocators "$names/reg2.ini"
for n in ../victim .t "$(printf 'a\tb')" "$long"; do
    rm -rf "$names/o2"
    "$ALLOCSCOPE" bench --target true --batch --name "$n" --repeats 1 -a glibc --quiet \
        -o "$names/o2" >"$names/out" 2>&1
    rc=$?
    if [ "$rc" = 2 ] && [ "$(wc -l <"$names/out")" = 1 ] &&
        grep -q "^allocscope: .*target '" "$names/out" && [ ! -e "$names/o2" ]; then
        pass "--name '$n': exit 2, nothing run"
    else
        fail "--name '$n'" "exit $rc: $(head -c 300 "$names/out")"
    fi
done
printf '[bench]\nrepeats = 1\n[target t_1.x]\ncommand = true\nvariants = v1.2+fix, A_b-c\n' \
    >"$names/ok.ini"
expect_eq "names of letters, digits and . _ + - are taken" \
    "$("$ALLOCSCOPE" bench "$names/ok.ini" -a glibc --list-cells 2>&1 | tr '\n' ' ')" \
    "t_1.x-v1.2+fix-glibc-default-r1 t_1.x-A_b-c-glibc-default-r1 "
expect_eq "a program whose name starts with . gets a name that does not" \
    "$(cp /bin/true "$names/.hidden-prog" && "$ALLOCSCOPE" bench --target "$names/.hidden-prog" \
        -a glibc --list-cells --repeats 1 2>&1)" "_hidden_prog-none-glibc-default-r1"

# A results.csv read by merge, report and gate names cell directories too: a cell name that is
# not one directory name is refused, so merge copies nothing from or to outside the benches.
mkdir -p "$names/m1/cells" "$names/evil" && echo theirs >"$names/evil/f"
printf 'cell,workload,variant,allocator,config,repeat,status\n../../evil,t,none,glibc,default,1,ok\n' \
    >"$names/m1/results.csv"
echo '{"cells": ["../../evil"]}' >"$names/m1/bench.json"
"$ALLOCSCOPE" merge "$names/m1" -o "$names/m2" >"$names/out" 2>&1
expect_eq "merge of a results.csv naming cell ../../evil: exit 2, nothing copied" \
    "$? $(grep -c "results.csv:2: cell name '../../evil' is not one directory name" "$names/out") $(cat "$names/evil/f") $(ls "$names/m2/cells" 2>/dev/null)" \
    "2 1 theirs "

# ---- a killed harness ----
"$ALLOCSCOPE" run -q --out "$TMP/killed" -- sleep 300 &
harness=$!
target=""
for _ in $(seq 1 100); do
    target=$(pgrep -P "$harness" sleep) && [ -s "$TMP/killed/run.json" ] && break
    sleep 0.1
done
expect_eq "run.json exists while the run goes on, state running" \
    "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["state"])' "$TMP/killed/run.json" 2>&1)" \
    "running"
kill -9 "$harness"
wait "$harness" 2>/dev/null
gone=no
for _ in $(seq 1 100); do
    kill -0 "$target" 2>/dev/null || { gone=yes; break; }
    sleep 0.1
done
expect_eq "the target dies with a harness killed by SIGKILL" "$gone" "yes"
[ "$gone" = yes ] || kill -9 "$target" 2>/dev/null

finish

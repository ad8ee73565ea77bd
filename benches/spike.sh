#!/bin/bash
# Bare-metal guest benchmark: Mimic vs QEMU on `-M spike -bios none`.
# Builds mimic (release) and benches/riscv/src/*.c, runs each program 3x on both emulators,
# checks both print the same checksum, and prints wall time (best of 3), guest MIPS from the
# program's own minstret delta, and Mimic's speed relative to QEMU. QEMU's minstret is not an
# instruction count without -icount (it follows host time), so one extra QEMU run with
# `-icount shift=0` supplies the exact count used for both MIPS columns. With MIMIC_STATS=1 support in mimic
# (stderr lines `mimic-stats: compile_ns=... exec_ns=...`) the JIT compile share is shown.
# Usage: benches/spike.sh [program...]   (default: all)
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
SRC="$ROOT/benches/riscv/src"
OUT="$ROOT/target/bench-riscv"
MIMIC="$ROOT/target/release/mimic"
QEMU=qemu-system-riscv64
RUNS=3
TIMEOUT=120
mkdir -p "$OUT"

(cd "$ROOT" && cargo build --release)

CFLAGS=(-O2 -march=rv64gc -mabi=lp64d -mcmodel=medany -ffreestanding -fno-builtin
        -fno-tree-loop-distribute-patterns -nostdlib -nostartfiles -T "$SRC/link.ld")
if [ $# -gt 0 ]; then PROGS=("$@"); else PROGS=(sieve sha256 matmul mix keccak mpi); fi
for p in "${PROGS[@]}"; do
    riscv64-unknown-elf-gcc "${CFLAGS[@]}" "$SRC/crt0.S" "$SRC/rt.c" "$SRC/$p.c" -lgcc -o "$OUT/$p.elf"
done

now() { date +%s.%N; }

# run_best <emu-binary> <elf> <tag>: best-of-$RUNS seconds in $best (empty on failure);
# stdout of the last run in $OUT/<tag>.out, stderr of the fastest in $OUT/<tag>.err.
run_best() {
    local emu="$1" elf="$2" tag="$3" i t0 t1 dt rc
    best=""
    for ((i = 0; i < RUNS; i++)); do
        t0=$(now)
        set +e
        MIMIC_STATS=1 timeout "$TIMEOUT" "$emu" -M spike -bios none -nographic -kernel "$elf" \
            </dev/null >"$OUT/$tag.out" 2>"$OUT/$tag.err.tmp"
        rc=$?
        set -e
        t1=$(now)
        if [ $rc -ne 0 ]; then
            echo "  $tag: exit status $rc ($(head -c 300 "$OUT/$tag.err.tmp" | tr '\n' ' '))" >&2
            best=""
            return 0
        fi
        dt=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$dt < $best" | bc -l)" = 1 ]; then
            best=$dt
            mv "$OUT/$tag.err.tmp" "$OUT/$tag.err"
        fi
    done
}

field() { sed -n "s/.*$1[: ]*\([0-9a-f]*\).*/\1/p" "$2" | head -n1; }
stat_field() { { grep -o "$1=[0-9]*" "$2" 2>/dev/null || true; } | tail -n1 | cut -d= -f2; }

status=0
rows=()
for p in "${PROGS[@]}"; do
    elf="$OUT/$p.elf"
    echo "running $p ..." >&2
    run_best "$MIMIC" "$elf" "$p.mimic"; mt=$best
    run_best "$QEMU" "$elf" "$p.qemu"; qt=$best
    mc=$( [ -n "$mt" ] && field checksum "$OUT/$p.mimic.out" || true)
    qc=$( [ -n "$qt" ] && field checksum "$OUT/$p.qemu.out" || true)
    mi=$( [ -n "$mt" ] && field instret "$OUT/$p.mimic.out" || true)
    qi=$( [ -n "$qt" ] && field instret "$OUT/$p.qemu.out" || true)
    # exact guest instruction count from QEMU in icount mode
    set +e
    ic=$(timeout "$TIMEOUT" "$QEMU" -M spike -bios none -nographic -icount shift=0 -kernel "$elf" </dev/null 2>/dev/null |
        sed -n 's/.*instret[: ]*\([0-9]*\).*/\1/p' | head -n1)
    set -e
    [ -n "$ic" ] && [ -n "$mi" ] && [ "$mi" != "$ic" ] &&
        echo "  note: mimic's minstret delta $mi != exact count $ic" >&2
    [ -n "$ic" ] && { mi=$ic; qi=$ic; }
    check="same"
    if [ -z "$mc" ] || [ -z "$qc" ]; then check="n/a"; status=1
    elif [ "$mc" != "$qc" ]; then check="DIFFER($mc/$qc)"; status=1; fi
    fmt() { [ -n "$1" ] && printf "%.3f" "$1" || printf "FAIL"; }
    mips() { [ -n "$1" ] && [ -n "$2" ] && printf "%.0f" "$(echo "$1 / $2 / 1000000" | bc -l)" || printf -- "-"; }
    ratio=$( [ -n "$mt" ] && [ -n "$qt" ] && printf "%.2f" "$(echo "$qt / $mt" | bc -l)" || printf -- "-")
    share="-"
    if [ -n "$mt" ]; then
        cns=$(stat_field compile_ns "$OUT/$p.mimic.err")
        ens=$(stat_field exec_ns "$OUT/$p.mimic.err")
        if [ -n "$cns" ]; then
            tot=${ens:+$((cns + ens))}
            [ -z "$tot" ] && tot=$(echo "$mt * 1000000000" | bc -l | cut -d. -f1)
            share=$(printf "%.1f%%" "$(echo "100 * $cns / $tot" | bc -l)")
        fi
    fi
    rows+=("$(printf "%-8s %9s %9s %9s %9s %8s %8s  %s" "$p" "$(fmt "$mt")" "$(fmt "$qt")" \
        "$(mips "$mi" "$mt")" "$(mips "$qi" "$qt")" "$ratio" "$share" "$check")")
done

echo
printf "%-8s %9s %9s %9s %9s %8s %8s  %s\n" program "mimic s" "qemu s" "mimic MIPS" "qemu MIPS*" \
    "speed x" "compile" checksum
for r in "${rows[@]}"; do echo "$r"; done
echo "(best of $RUNS wall-clock runs incl. start-up; MIPS = guest minstret delta / wall time;"
echo " * both MIPS columns use the exact count from one QEMU -icount run when it works, else each";
echo "   emulator's own minstret (QEMU's is host-time based); speed x = mimic speed / qemu speed;"
echo " compile = JIT compile share of mimic's time from MIMIC_STATS=1, '-' if not reported)"
exit $status

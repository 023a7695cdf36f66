#!/bin/sh
# run.sh NAME...: run the libFuzzer harnesses build-fuzz/fuzz_NAME (what
# `make fuzz` does after building them), one after the other, and print a
# line per harness: executions, seconds, crashes (0, or the input that
# crashed). Exits non-zero when any harness crashed.
#
# For each NAME:
#   tests/fuzz/fuzz_NAME.seeds    seed files, one a line: data:REL (a file
#                                 in $DATA_DIR) or repo:REL (a file in the
#                                 repository); blank lines and # comments
#                                 are skipped. They are copied into
#                                 build-fuzz/corpus/NAME/, which libFuzzer
#                                 grows and which is kept between runs.
#   tests/fuzz/fuzz_NAME.options  optional extra libFuzzer flags (say
#                                 -max_len=16384), whitespace-separated,
#                                 # comments skipped; they override the
#                                 defaults below.
# Settings (from the environment, as make passes them): FUZZ_SECONDS (per
# harness, default 10) or FUZZ_RUNS (executions, overrides FUZZ_SECONDS),
# FUZZ_TIMEOUT (seconds for one input, default 10), DATA_DIR, FUZZ_BUILD.
# Crash inputs go to build-fuzz/artifacts/NAME/, full logs to
# build-fuzz/logs/NAME.log.
set -u
build=${FUZZ_BUILD:-build-fuzz}
seconds=${FUZZ_SECONDS:-10}
runs=${FUZZ_RUNS:-}
timeout=${FUZZ_TIMEOUT:-10}
data=${DATA_DIR:-data}
status=0
summary=""

for name in "$@"; do
    corpus=$build/corpus/$name
    artifacts=$build/artifacts/$name
    log=$build/logs/$name.log
    mkdir -p "$corpus" "$artifacts" "$build/logs"

    seeds=tests/fuzz/fuzz_$name.seeds
    if [ -f "$seeds" ]; then
        while IFS= read -r line || [ -n "$line" ]; do
            case $line in
            '' | '#'*) continue ;;
            data:*) src=$data/${line#data:} ;;
            repo:*) src=${line#repo:} ;;
            *) echo "$seeds: bad line '$line' (want data:REL or repo:REL)" >&2; exit 2 ;;
            esac
            if [ ! -f "$src" ]; then echo "$seeds: no file $src" >&2; exit 2; fi
            cp "$src" "$corpus/seed-$(echo "${line#*:}" | tr '/' '_')"
        done < "$seeds"
    fi

    options=""
    if [ -f "tests/fuzz/fuzz_$name.options" ]; then
        options=$(sed 's/#.*//' "tests/fuzz/fuzz_$name.options" | tr '\n' ' ')
    fi
    if [ -n "$runs" ]; then limit="-runs=$runs"; else limit="-max_total_time=$seconds"; fi

    echo "fuzzing $name ($limit; log: $log)" >&2
    start=$(date +%s.%N)
    # -rss_limit_mb also limits a single malloc: an input that makes the
    # parser ask for gigabytes counts as a crash, as one that runs longer
    # than -timeout seconds does. One thread for OpenMP: none is needed.
    # shellcheck disable=SC2086 # options are words on purpose
    OMP_NUM_THREADS=1 "$build/fuzz_$name" $limit -print_final_stats=1 -rss_limit_mb=2048 -timeout="$timeout" \
        -max_len=4096 $options -artifact_prefix="$artifacts/" "$corpus" > "$log" 2>&1
    rc=$?
    end=$(date +%s.%N)

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    [ -n "$execs" ] || execs="?"
    crash=0
    if [ $rc -ne 0 ]; then
        crash=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
        [ -n "$crash" ] || crash="exit status $rc (see $log)"
        status=1
    fi
    line=$(awk -v n="$name" -v e="$execs" -v s="$start" -v t="$end" -v c="$crash" 'BEGIN {
        secs = t - s; rate = (e ~ /^[0-9]+$/ && secs > 0) ? sprintf("%.0f", e / secs) : "?";
        printf "%-16s %12s %8.1f %8s   %s", n, e, secs, rate, c }')
    summary="$summary$line
"
done

echo "harness            executions  seconds   exec/s   crashes"
printf "%s" "$summary"
exit $status

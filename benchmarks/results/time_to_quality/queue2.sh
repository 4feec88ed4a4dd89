#!/bin/sh
# A second queue run beside queue.sh (2026-11-30, 20:20): the brain jobs that queue.sh reaches
# only after the brain baseline, so that they are done when it finishes. Factors are taken on
# modelled seconds, so running beside another job does not bias them.
cd "$(dirname "$0")/../../.." || exit 1
PY=${PY:-.venv/bin/python}
$PY benchmarks/time_to_quality.py run --images brain --schedules decay500p05,plateau2000

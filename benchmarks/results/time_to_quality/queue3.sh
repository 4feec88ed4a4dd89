#!/bin/sh
# Queue of 2026-12-01: the two cost-balanced schedules pre-registered in commit 379f81a, brain
# first (its baseline exists). Each job resumes from its checkpoint if interrupted.
cd "$(dirname "$0")/../../.." || exit 1
PY=${PY:-.venv/bin/python}
$PY benchmarks/time_to_quality.py run --images brain --schedules decay2000p15,decay2000p1

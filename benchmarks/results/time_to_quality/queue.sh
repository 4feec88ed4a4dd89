#!/bin/sh
# The job queue as it was launched (each job resumes from its checkpoint if interrupted).
cd "$(dirname "$0")/../../.." || exit 1
PY=${PY:-.venv/bin/python}
for img in brain histology coffee; do
  $PY benchmarks/time_to_quality.py run --images $img --schedules iters250,singan,decay500p05,iters500 || exit 1
done
$PY benchmarks/time_to_quality.py run --schedules iters1000,noclamp500,decay1000p05,decay600p1,warm250,warm100

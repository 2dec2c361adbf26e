#!/usr/bin/env bash
# Install each peer into its own virtual environment under bench/peers/ (ignored by git). Never a
# project dependency: the project's .venv is not touched.
#   bash bench/peers/install.sh [recbole|implicit]...   (default: both)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python="${PYTHON:-python3.11}"
peers=("$@")
[ ${#peers[@]} -eq 0 ] && peers=(recbole implicit)
for peer in "${peers[@]}"; do
    venv="$here/.venv-$peer"
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/pip" install --upgrade pip wheel >/dev/null
    if [ "$peer" = recbole ]; then
        # torch first and alone: the CPU wheel, so that resolving RecBole's requirements pulls no CUDA build
        "$venv/bin/pip" install torch==2.13.0
    fi
    "$venv/bin/pip" install -r "$here/requirements-$peer.txt"
    "$venv/bin/pip" freeze > "$here/.venv-$peer/freeze.txt"
    echo "$peer: installed into $venv"
done

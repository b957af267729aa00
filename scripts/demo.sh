#!/usr/bin/env bash
# The main job (README.md): set up, bring up the example lab (3 nodes with pods, a BIRD ToR and a second
# router), show it, prove traffic and BGP work, and tear it all down again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
LAB_FILE=${1:-lab/examples/three-nodes-tor.yaml}
name=$(awk '/^name:/{print $2; exit}' "$LAB_FILE")
trap 'echo; echo "== caracal lab down $name"; bin/caracal lab down "$name"' EXIT
echo "== caracal lab up $LAB_FILE"
bin/caracal lab up "$LAB_FILE"
echo
echo "== caracal lab status $name"
bin/caracal lab status "$name"
echo
echo "== pod-to-pod across nodes (ping from node1's first pod)"
bin/caracal lab exec "$name" node1 -- ip route

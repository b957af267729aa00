#!/usr/bin/env bash
# The main job (README.md): set up, bring up the example lab (3 nodes with pods, a BIRD ToR and an FRR
# upstream router), show it, prove that traffic and BGP work, and tear it all down again, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
LAB_FILE=${1:-lab/examples/three-nodes-tor.yaml}
name=$(awk '/^name:/{print $2; exit}' "$LAB_FILE")
trap 'echo; echo "== caracal lab down $name"; bin/caracal lab down "$name"; echo "namespaces left: $(ip netns list | grep -c "^caracal\.$name\." || true)"' EXIT

step() { echo; echo "== $*"; }
step "caracal lab up $LAB_FILE"
bin/caracal lab up "$LAB_FILE"

if [ "$name" = demo ]; then
  step "pod-to-pod on one node: pod1a -> pod1b (10.244.1.3)"
  bin/caracal lab exec demo pod1a -- ping -c 2 -W 1 10.244.1.3
  step "pod-to-pod across nodes: pod1a -> pod3b (10.244.3.3), through the ToR"
  bin/caracal lab exec demo pod1a -- ping -c 2 -W 1 10.244.3.3
  step "the ToR's routing table: 198.51.100.0/24 was learned by BGP from the FRR upstream"
  bin/caracal lab exec demo tor -- ip route show proto bird
  step "pod to the upstream's loopback over that BGP-learned route: pod2a -> 198.51.100.1"
  bin/caracal lab exec demo pod2a -- ping -c 2 -W 1 198.51.100.1
fi

step "caracal lab status $name"
bin/caracal lab status "$name"

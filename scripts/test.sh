#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): set up, then typecheck, lint, check generated files,
# and run every test with Node's test runner. Extra arguments select test files by path substring.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck"; npx --no-install tsc -p tsconfig.json --noEmit
echo "== lint"; npx --no-install biome check --diagnostic-level=error .
echo "== tests"
# What a lab must never leave behind (ARCHITECTURE.md): namespaces, the daemons it starts, nft tables.
# One pgrep per name: pgrep refuses (matches nothing, with a warning) a pattern longer than 15 characters.
DAEMONS='bird bgpd zebra gobgpd etcd'
netns() { ip netns list 2>/dev/null | awk '{print $1}' | sort; }
daemons() {
  if command -v pgrep >/dev/null; then
    for d in $DAEMONS; do pgrep -x "$d" || true; done | sort
  fi
}
tables() { nft list tables 2>/dev/null | sort || true; }
before_netns=$(netns); before_daemons=$(daemons); before_tables=$(tables)
status=0
node scripts/test.mjs "$@" || status=$?
new_since() { comm -13 <(echo "$1") <(echo "$2") | tr '\n' ' '; }
leaked=$(new_since "$before_netns" "$(netns)")
if [ -n "${leaked// /}" ]; then
  echo "test.sh: tests left network namespaces behind: $leaked" >&2
  status=1
fi
leaked=$(new_since "$before_daemons" "$(daemons)")
if [ -n "${leaked// /}" ]; then
  echo "test.sh: tests left daemons running: $(ps -o pid=,args= -p "$(echo $leaked | tr ' ' ',')" 2>/dev/null | tr '\n' ';')" >&2
  status=1
fi
leaked=$(new_since "$before_tables" "$(tables)")
if [ -n "${leaked// /}" ]; then
  echo "test.sh: tests left nft tables behind: $leaked" >&2
  status=1
fi
exit $status

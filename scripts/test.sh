#!/usr/bin/env bash
# The test command (README.md; .ci/run calls it): set up, then typecheck, lint, check generated files,
# and run every test with Node's test runner. Extra arguments select test files by path substring.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck"; npx --no-install tsc -p tsconfig.json --noEmit
echo "== lint"; npx --no-install biome check --diagnostic-level=error .
echo "== tests"
before=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
status=0
node scripts/test.mjs "$@" || status=$?
after=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
leaked=$(comm -13 <(echo "$before") <(echo "$after") | tr '\n' ' ')
if [ -n "${leaked// /}" ]; then
  echo "test.sh: tests left network namespaces behind: $leaked" >&2
  status=1
fi
exit $status

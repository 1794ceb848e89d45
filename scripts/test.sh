#!/usr/bin/env bash
# The whole test suite, as root on a Debian machine: installs what is missing, then runs
#   0. the static checks (npm run lint, npm run typecheck),
#   1. every test (unit + kernel integration) against the Node bundles in dist/, and
#   2. the integration tests again against the standalone executable in dist/bin/,
#   3. a subset of them against the arm64 standalone executable (cross-compiled into
#      dist/bin-arm64/, run under qemu-aarch64-static: ARM64_TESTS below, README "Architectures"),
# prints vitest's own output, and ends with exactly one line "N passed, M failed" (all runs
# summed). Exits non-zero when a test failed or vitest itself failed. .ci/run calls this.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

bash scripts/setup.sh || { echo "setup failed" >&2; echo "0 passed, 1 failed"; exit 1; }

work=$(mktemp -d /tmp/cni-ts-test-XXXXXX)
trap 'rm -rf "$work"' EXIT

status=0
# Static checks first, each counted as one test in the final line: formatting and lint rules
# (npm run lint: Biome + line length) and the type checker.
checks_passed=0
checks_failed=0
for check in lint typecheck; do
  if npm run --silent "$check"; then checks_passed=$((checks_passed + 1)); else checks_failed=$((checks_failed + 1)); echo "npm run $check failed" >&2; fi
done
npx vitest run --reporter=default --reporter=json --outputFile.json="$work/bundle.json" || status=1
CNI_TS_BUILD=standalone npx vitest run test/integration --reporter=default --reporter=json --outputFile.json="$work/standalone.json" || status=1

# The arm64 subset: the protocol (VERSION and every command's input handling), bridge, ptp (both
# modes), host-local, the process behaviour, masquerade (iptables, and nftables through the nft
# fallback under qemu), and portmap/loopback with real traffic where present.
# The rest is architecture-independent TypeScript already run twice above, or needs what emulation
# lacks (README "Architectures"). The unit tests (run above) check each architecture's layouts.
ARM64_TESTS=()
for t in protocol bridge ptp host-local platform masquerade portmap loopback; do
  [[ -f test/integration/$t.test.ts ]] && ARM64_TESTS+=("test/integration/$t.test.ts")
done
CNI_TS_BUILD=standalone-arm64 npx vitest run "${ARM64_TESTS[@]}" --reporter=default --reporter=json --outputFile.json="$work/arm64.json" || status=1

# Count from the JSON reports. A test file that fails before any test runs (import error, failing
# hook) has no failed test of its own: count it as one failure so it cannot pass silently. A
# missing or unreadable report counts as one failure too.
read -r passed failed < <(node -e '
  const fs = require("node:fs");
  let passed = 0, failed = 0;
  for (const path of process.argv.slice(1)) {
    let r;
    try { r = JSON.parse(fs.readFileSync(path, "utf8")); } catch { failed += 1; continue; }
    for (const file of r.testResults ?? []) {
      const tests = file.assertionResults ?? [];
      const f = tests.filter((t) => t.status === "failed").length;
      passed += tests.filter((t) => t.status === "passed").length;
      failed += f;
      if (file.status === "failed" && f === 0) failed += 1;
    }
  }
  console.log(`${passed} ${failed}`);
' "$work/bundle.json" "$work/standalone.json" "$work/arm64.json")

passed=$((passed + checks_passed))
failed=$((failed + checks_failed))
echo "$passed passed, $failed failed"
if ((failed > 0 || status != 0)); then exit 1; fi
exit 0

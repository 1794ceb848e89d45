#!/usr/bin/env node
// The reliability suite (fuzzing, fault injection, concurrency stress, file-system hygiene) with
// raised iteration counts, ending in one summary line with the counts of the run:
//
//   npm run soak                               # 200 kills per plugin and everything scaled to it
//   CNI_TS_SOAK_ITERATIONS=1000 npm run soak   # longer
//   npm run test:reliability                   # the bounded CI counts, same summary
//
// Every count can also be set on its own (CNI_TS_FUZZ_CASES, CNI_TS_FUZZ_RUNS,
// CNI_TS_FAULT_ITERATIONS, CNI_TS_STRESS_ROUNDS). One seed drives every random choice; it is
// printed first, and CNI_TS_FUZZ_SEED=<seed> replays the run. Needs root for all but the
// in-process fuzzing.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const ci = process.argv.includes('--ci');
const FILES = [
  'test/unit/fuzz-dispatch.test.ts',
  'test/unit/no-shell.test.ts',
  'test/integration/fuzz.test.ts',
  'test/integration/faults.test.ts',
  'test/integration/stress.test.ts',
  'test/integration/security.test.ts',
];

const env = { ...process.env };
if (!ci) {
  const n = Number(process.env.CNI_TS_SOAK_ITERATIONS) > 0 ? Math.floor(Number(process.env.CNI_TS_SOAK_ITERATIONS)) : 200;
  env.CNI_TS_FAULT_ITERATIONS ??= String(n);
  env.CNI_TS_FUZZ_RUNS ??= String(2 * n);
  env.CNI_TS_FUZZ_CASES ??= String(100 * n);
  env.CNI_TS_STRESS_ROUNDS ??= String(Math.max(3, Math.ceil(n / 20)));
}
env.CNI_TS_FUZZ_SEED ??= String(Math.floor(Math.random() * 2 ** 32));
const work = mkdtempSync(join(tmpdir(), 'cnits-soak-'));
env.CNI_TS_RELIABILITY_SUMMARY = join(work, 'counts.jsonl');

console.log(`reliability ${ci ? 'CI run' : 'soak'}: seed ${env.CNI_TS_FUZZ_SEED} (replay with CNI_TS_FUZZ_SEED=${env.CNI_TS_FUZZ_SEED})`);
const started = Date.now();
const vitest = spawnSync(process.execPath, [join(root, 'node_modules/vitest/vitest.mjs'), 'run', ...FILES], {
  cwd: root,
  env,
  stdio: 'inherit',
});

let records = [];
try {
  records = readFileSync(env.CNI_TS_RELIABILITY_SUMMARY, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
} catch {
  /* no suite recorded anything (e.g. not root) */
}
rmSync(work, { recursive: true, force: true });

const sum = (suite, key) => records.filter((r) => r.suite.startsWith(suite)).reduce((a, r) => a + (r[key] ?? 0), 0);
const summary = {
  inputsFuzzedInProcess: sum('fuzz-dispatch', 'inputsFuzzed'),
  processRunsFuzzed: sum('fuzz ', 'runs'),
  validMutationsUndone: sum('fuzz ', 'addSuccesses'),
  faultIterations: sum('faults', 'iterations'),
  faultsInjected: sum('faults', 'faultsInjected'),
  delWithoutNetns: sum('faults', 'delWithoutNetns'),
  stressCycles: sum('stress', 'adds'),
  stressCyclesViaReference: sum('stress', 'byReference'),
  leaseScans: sum('stress', 'scans'),
  internalErrors: sum('fuzz', 'internalErrors') + sum('stress', 'internalErrors'),
  partialLeases: sum('faults', 'partialLeases'),
  doubleAllocations: sum('stress', 'doubleAllocations'),
  leaks: sum('', 'leaks'),
};
const minutes = ((Date.now() - started) / 60000).toFixed(1);
console.log(
  `reliability summary (${minutes} min, seed ${env.CNI_TS_FUZZ_SEED}, vitest ${vitest.status === 0 ? 'passed' : 'FAILED'}): ` +
    `${summary.inputsFuzzedInProcess} inputs fuzzed in-process, ${summary.processRunsFuzzed} plugin runs fuzzed ` +
    `(${summary.validMutationsUndone} valid ADDs undone by DEL), ${summary.faultsInjected} kill -9 faults injected in ${summary.faultIterations} iterations ` +
    `(${summary.delWithoutNetns} DELs without netns), ${summary.stressCycles} concurrent ADD/DEL cycles (${summary.stressCyclesViaReference} ` +
    `via the reference host-local, ` +
    `${summary.leaseScans} lease scans); leaks found: ${summary.leaks}, double allocations: ${summary.doubleAllocations}, ` +
    `partial leases: ${summary.partialLeases}, internal errors: ${summary.internalErrors}`,
);
console.log(JSON.stringify(summary));
process.exitCode = vitest.status ?? 1;

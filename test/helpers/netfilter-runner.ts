// A tiny entry point for integration tests: runs one exported function of the masquerade and
// spoof check modules and prints its outcome as JSON. Tests bundle it with esbuild and run it
// with `ip netns exec <node> node <bundle>`, so the module's iptables/nft calls land in the
// throwaway node namespace (Node cannot switch namespaces itself).
import * as masquerade from '../../lib/firewall/masquerade.ts';
import * as spoofcheck from '../../lib/firewall/spoofcheck.ts';

const fns: Record<string, (...args: any[]) => Promise<unknown>> = { ...masquerade, ...spoofcheck } as any;

async function main(): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  const { fn, args } = JSON.parse(Buffer.concat(chunks).toString()) as { fn: string; args: unknown[] };
  try {
    const f = fns[fn];
    if (typeof f !== 'function') throw new Error(`no such function: ${fn}`);
    const value = await f(...args);
    process.stdout.write(JSON.stringify({ ok: true, value: value ?? null }));
  } catch (e) {
    const err = e as { code?: number; message?: string };
    process.stdout.write(JSON.stringify({ ok: false, code: err.code ?? 999, msg: err.message ?? String(e) }));
  }
}

void main();

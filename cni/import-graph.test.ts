/**
 * Start-up discipline (the plugin runs on every pod start): the modules cni/main.ts loads statically must not
 * reach the heavy packages. The datastore, Caracal IPAM and the zod models are loaded with dynamic import()
 * only on the paths that need them; this walks the static import graph from cni/main.ts and fails naming the
 * chain that pulls one in.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const HEAVY = ['zod', 'etcd3', '@kubernetes/client-node', 'yaml', 'pino', 'prom-client'];
// Static imports only (`import ... from '...'`, `export ... from '...'`), not `import type`, not import().
const STATIC_RE = /^\s*(?:import|export)\s+(?!type\b)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm;

function staticImports(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  return [...src.matchAll(STATIC_RE)].map((m) => m[1] as string);
}

describe('cni start-up import graph', () => {
  it('cni/main.ts reaches none of zod, etcd3, client-node, yaml, pino, prom-client statically', () => {
    const seen = new Map<string, string[]>(); // file → chain from main
    const start = join(ROOT, 'cni/main.ts');
    const queue: [string, string[]][] = [[start, ['cni/main.ts']]];
    const bad: string[] = [];
    while (queue.length) {
      const [file, chain] = queue.shift() as [string, string[]];
      if (seen.has(file)) continue;
      seen.set(file, chain);
      for (const spec of staticImports(file)) {
        if (spec.startsWith('.')) {
          const target = resolve(dirname(file), spec).replace(/\.js$/, '.ts');
          queue.push([target, [...chain, target.slice(ROOT.length + 1)]]);
        } else if (HEAVY.some((h) => spec === h || spec.startsWith(`${h}/`))) {
          bad.push(`${chain.join(' → ')} → ${spec}`);
        }
      }
    }
    assert.ok(seen.size > 5, `walked the graph (${seen.size} files)`);
    assert.ok(
      [...seen.keys()].some((f) => f.endsWith('kernel/netlink/socket.ts')),
      'the netlink layer is in it',
    );
    assert.deepEqual(bad, []);
  });

  it('the agent path (cni/agent-client.ts) is in that graph and loads node:net and the CNI errors only', () => {
    assert.deepEqual(staticImports(join(ROOT, 'cni/agent-client.ts')).sort(), ['./errors.js', 'node:net']);
    const plugin = readFileSync(join(ROOT, 'cni/plugin.ts'), 'utf8');
    assert.match(plugin, /^import \{[^}]*connectAgent[^}]*\} from '\.\/agent-client\.js';$/m);
  });
});

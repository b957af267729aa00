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

/** Walks the static graph from `entry`; returns the files seen and the chains that reach a heavy package. */
function walk(entry: string): { seen: Map<string, string[]>; bad: string[] } {
  const seen = new Map<string, string[]>(); // file → chain from the entry
  const start = join(ROOT, entry);
  const queue: [string, string[]][] = [[start, [entry]]];
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
  return { seen, bad };
}

const rel = (m: Map<string, string[]>) => [...m.keys()].map((f) => f.slice(ROOT.length + 1)).sort();

describe('cni start-up import graph', () => {
  it('cni/main.ts (the fast entry: the whole command goes to the agent) loads only the client, config and errors', () => {
    const { seen, bad } = walk('cni/main.ts');
    assert.deepEqual(bad, []);
    assert.deepEqual(rel(seen), [
      'cni/agent-client.ts',
      'cni/config.ts',
      'cni/errors.ts',
      'cni/main.ts',
      'common/errors.ts',
    ]);
  });

  it('cni/plugin.ts (the in-process path, imported on demand) reaches none of zod, etcd3, client-node, yaml, pino, prom-client statically', () => {
    const { seen, bad } = walk('cni/plugin.ts');
    assert.ok(seen.size > 5, `walked the graph (${seen.size} files)`);
    assert.ok(
      [...seen.keys()].some((f) => f.endsWith('kernel/netlink/socket.ts')),
      'the netlink layer is in it',
    );
    assert.deepEqual(bad, []);
  });

  it('the agent client loads node:net and the CNI errors only, and the plugin uses it', () => {
    assert.deepEqual(staticImports(join(ROOT, 'cni/agent-client.ts')).sort(), ['./errors.js', 'node:net']);
    const plugin = readFileSync(join(ROOT, 'cni/plugin.ts'), 'utf8');
    assert.match(plugin, /^import \{[^}]*connectAgent[^}]*\} from '\.\/agent-client\.js';$/m);
  });
});

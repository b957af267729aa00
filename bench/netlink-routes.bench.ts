/**
 * Installing and removing 100,000 kernel routes: kernel/netlink's NetlinkRoutePort (one send per 1000 ops,
 * an ACK per op) against `ip -batch` doing the same 100,000 `route replace` lines then 100,000 `route del`
 * lines. Each side has its own fresh netns (lo up, a veth pair) and every call starts and ends with an empty
 * table, so the calls are alike.
 *
 * How to read it: ours runs in a long-lived child inside its netns (kernel/netlink/testdata/route-server.ts)
 * and is driven by one line over a pipe, so its time leaves out Node start-up; the reference is a whole `ip`
 * process, start-up included (about a millisecond, noise against ~1 s of work). It measures /32 link routes
 * in the main table only: no gateways, no IPv6, no dump. Needs root and iproute2; skips otherwise.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { createInterface, type Interface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { command, commandExists, sideBySide } from './api.js';

const N = 100_000;
const NS_OURS = `caracal-bench-nl-${process.pid}`;
const NS_REF = `caracal-bench-ip-${process.pid}`;
const SERVER = fileURLToPath(new URL('../kernel/netlink/testdata/route-server.ts', import.meta.url));

function dst(i: number): string {
  const a = 0x0a800000 + i;
  return `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
}
const installText = Array.from(
  { length: N },
  (_, i) => `route replace ${dst(i)}/32 dev veth0 proto 80 scope link\n`,
).join('');
const deleteText = Array.from({ length: N }, (_, i) => `route del ${dst(i)}/32 dev veth0 proto 80\n`).join('');

function makeNetns(ns: string): void {
  execFileSync('ip', ['netns', 'add', ns]);
  for (const args of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'veth0', 'type', 'veth', 'peer', 'name', 'veth1'],
    ['link', 'set', 'veth0', 'up'],
    ['link', 'set', 'veth1', 'up'],
  ])
    execFileSync('ip', ['-n', ns, ...args]);
}
function countRef(): number {
  return execFileSync('ip', ['-n', NS_REF, 'route', 'show', 'proto', '80'], { encoding: 'utf8', maxBuffer: 64 << 20 })
    .split('\n')
    .filter((l) => l !== '').length;
}

let server: ChildProcess | undefined;
let lines: AsyncIterator<string> | undefined;
let rl: Interface | undefined;
async function ask(cmd: string): Promise<number> {
  server?.stdin?.write(`${cmd}\n`);
  const r = await lines?.next();
  if (!r || r.done) throw new Error('route server exited');
  return Number(r.value);
}

export default sideBySide(`install + delete ${N.toLocaleString('en')} routes`, {
  labels: { ours: 'NetlinkRoutePort', reference: 'ip -batch' },
  skip: () => (process.getuid?.() !== 0 ? 'needs root (ip netns)' : !commandExists('ip') && 'needs iproute2'),
  runs: 5,
  warmup: 1,
  iterations: 1,
  units: 'routes',
  unitsPerRun: 2 * N,
  setup: async () => {
    makeNetns(NS_OURS);
    makeNetns(NS_REF);
    server = spawn('ip', ['netns', 'exec', NS_OURS, process.execPath, '--import', 'tsx', SERVER, String(N), 'veth0'], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    rl = createInterface({ input: server.stdout as NodeJS.ReadableStream });
    lines = rl[Symbol.asyncIterator]();
    // Both sides do the same work: all N land, then all N go.
    assert.equal(await ask('install'), 0);
    assert.equal(await ask('count'), N);
    assert.equal(await ask('delete'), 0);
    assert.equal(await ask('count'), 0);
    await command(['ip', '-batch', '-'], { input: installText, netns: NS_REF })();
    assert.equal(countRef(), N);
    await command(['ip', '-batch', '-'], { input: deleteText, netns: NS_REF })();
    assert.equal(countRef(), 0);
  },
  ours: async () => {
    const failed = await ask('cycle');
    if (failed !== 0) throw new Error(`${failed} route ops failed`);
    return failed;
  },
  reference: command(['ip', '-batch', '-'], { input: installText + deleteText, netns: NS_REF }),
  teardown: () => {
    rl?.close();
    server?.stdin?.end();
    if (server && server.exitCode === null) server.kill();
    spawnSync('ip', ['netns', 'del', NS_OURS]);
    spawnSync('ip', ['netns', 'del', NS_REF]);
  },
});

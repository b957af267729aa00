/**
 * `EtcdServer` launches a real etcd, restarts it on the same data, reports start failures with etcd's own
 * words, and never outlives the process that started it, unless started detached: then it does, and another
 * process stops it by pid and start time.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Etcd3 } from 'etcd3';
import { ErrorCodes, isCaracalError } from '../common/errors.js';
import { EtcdServer, freePort } from './etcd.js';
import { isAlive, type ProcessRef, stopProcesses } from './netns.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Poll (bounded) until `pid` is gone; etcd's exit is not an event we can await from another process. */
async function waitGone(pid: number, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) assert.fail(`etcd pid ${pid} still running ${ms} ms after its parent went away`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Run a child Node process that starts an EtcdServer and prints its pid; resolves with the pid. */
function childWithEtcd(how: 'exit' | 'hang'): {
  started: Promise<{ pid: number; dataDir: string }>;
  child: ReturnType<typeof spawn>;
} {
  const mod = new URL('./etcd.ts', import.meta.url).href;
  const script =
    `const { EtcdServer } = await import(${JSON.stringify(mod)});` +
    'const s = await EtcdServer.start();' +
    "console.log(s.pid + ' ' + s.dataDir);" +
    (how === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const started = new Promise<{ pid: number; dataDir: string }>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      const m = /^(\d+) (\S+)\n/.exec(out);
      if (m) resolve({ pid: Number(m[1]), dataDir: m[2]! });
    });
    child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing a pid: ${out}`)));
  });
  return { started, child };
}

/** `GET /health` on `endpoint`: true when etcd says it is healthy, false when it does not answer (or not so). */
async function healthy(endpoint: string): Promise<boolean> {
  try {
    const res = await fetch(`${endpoint}/health`, { signal: AbortSignal.timeout(2_000) });
    return res.ok && /"health"\s*:\s*"true"/.test(await res.text());
  } catch {
    return false;
  }
}

/**
 * Run a child Node process that starts a detached EtcdServer, prints what another process needs to find and
 * stop it (endpoints, pid and start time, as `caracal lab up` records them), and exits.
 */
async function detachedEtcdFromChild(dataDir: string, logPath: string): Promise<ProcessRef & { endpoint: string }> {
  const etcdMod = new URL('./etcd.ts', import.meta.url).href;
  const netnsMod = new URL('./netns.ts', import.meta.url).href;
  const script =
    `const { EtcdServer } = await import(${JSON.stringify(etcdMod)});` +
    `const { processStartTime } = await import(${JSON.stringify(netnsMod)});` +
    `const s = await EtcdServer.start({ detached: true, dataDir: ${JSON.stringify(dataDir)}, logPath: ${JSON.stringify(logPath)} });` +
    'console.log(JSON.stringify({ endpoint: s.endpoints[0], pid: s.pid, startTime: processStartTime(s.pid) }));' +
    'process.exit(0);';
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString();
  });
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  assert.equal(code, 0, `the starter exits cleanly: ${out}`);
  return JSON.parse(out) as ProcessRef & { endpoint: string };
}

describe('EtcdServer', () => {
  it('start() serves on free ports; restart() keeps data and endpoint; remove() deletes the data dir', async () => {
    const etcd = await EtcdServer.start();
    const client = new Etcd3({ hosts: etcd.endpoints });
    try {
      assert.match(etcd.endpoints[0]!, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(existsSync(etcd.dataDir));
      await client.put('/k').value('v1');
      const before = etcd.endpoints;
      const oldPid = etcd.pid;
      await etcd.restart();
      assert.deepEqual(etcd.endpoints, before);
      assert.notEqual(etcd.pid, oldPid);
      assert.equal(await client.get('/k').string(), 'v1');
      await etcd.kill();
      assert.equal(etcd.running, false);
      await etcd.restart(); // restart() of a stopped server just starts it
      assert.equal(await client.get('/k').string(), 'v1', 'a crash loses nothing that was acknowledged');
    } finally {
      client.close();
      await etcd.remove();
    }
    assert.equal(existsSync(etcd.dataDir), false);
    assert.equal(etcd.running, false);
  });

  it('start() that fails says why, with the tail of etcd stderr', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as { port: number }).port;
    try {
      await assert.rejects(EtcdServer.start({ clientPort: taken, peerPort: await freePort() }), (e) => {
        assert.ok(isCaracalError(e, ErrorCodes.LabCommandFailed));
        assert.match(e.message, new RegExp(`Cannot start etcd "caracal" on http://127.0.0.1:${taken}`));
        assert.match(e.message, /address already in use/);
        return true;
      });
    } finally {
      squatter.close();
    }
  });

  it('etcd and its temporary data dir do not outlive a process that exits without stopping it', async () => {
    const { started, child } = childWithEtcd('exit');
    const { pid, dataDir } = await started;
    await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
    await waitGone(pid);
    assert.equal(existsSync(dataDir), false, 'the exit hook deletes the data dir it made');
  });

  it('etcd does not outlive a process that is SIGKILLed (no hook runs: the kernel kills it)', async () => {
    const { started, child } = childWithEtcd('hang');
    const { pid, dataDir } = await started;
    try {
      assert.ok(alive(pid));
      child.kill('SIGKILL');
      await waitGone(pid);
    } finally {
      await rm(dataDir, { recursive: true, force: true }); // nobody else can: its owner died
    }
  });

  it('detached: etcd outlives the process that started it, keeps its data dir, and stops by pid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'caracal-etcd-detached-'));
    const dataDir = join(dir, 'data');
    const logPath = join(dir, 'etcd.log');
    let ref: ProcessRef | undefined;
    try {
      const started = await detachedEtcdFromChild(dataDir, logPath);
      ref = { pid: started.pid, startTime: started.startTime };
      assert.equal(typeof started.startTime, 'number');
      // The starter has exited (and run its exit hooks): etcd still answers, its data dir is still there.
      assert.ok(isAlive(ref), `etcd pid ${ref.pid} survives its starter`);
      assert.ok(await healthy(started.endpoint), `etcd at ${started.endpoint} is healthy`);
      assert.ok(existsSync(join(dataDir, 'member')), 'the exit hook leaves a detached data dir alone');
      assert.ok(existsSync(logPath), 'output goes to the log file');
      assert.equal(/--pdeathsig/.test(readFileSync(`/proc/${ref.pid}/cmdline`, 'latin1')), false);

      assert.deepEqual(await stopProcesses([ref], 5_000), [], 'SIGTERM by pid and start time stops it');
      assert.equal(isAlive(ref), false);
      assert.equal(await healthy(started.endpoint), false, 'nothing answers after stop');
    } finally {
      if (ref && isAlive(ref)) process.kill(ref.pid, 'SIGKILL');
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('detached start() that fails quotes the log file', async () => {
    const squatter = createServer();
    await new Promise<void>((r) => squatter.listen(0, '127.0.0.1', r));
    const taken = (squatter.address() as { port: number }).port;
    const dir = await mkdtemp(join(tmpdir(), 'caracal-etcd-detached-'));
    const logPath = join(dir, 'etcd.log');
    try {
      const start = EtcdServer.start({
        detached: true,
        dataDir: join(dir, 'data'),
        logPath,
        clientPort: taken,
        peerPort: await freePort(),
      });
      await assert.rejects(start, (e) => {
        assert.ok(isCaracalError(e, ErrorCodes.LabCommandFailed));
        assert.match(e.message, new RegExp(`stderr tail \\(${logPath}\\):`));
        assert.match(e.message, /address already in use/);
        return true;
      });
    } finally {
      squatter.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

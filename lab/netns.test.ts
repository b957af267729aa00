import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import { isCaracalError } from '../common/errors.js';
import {
  formatCommand,
  HOST_VETH_PREFIX,
  hostVethName,
  IFNAME_MAX,
  ifName,
  ipBatch,
  isAlive,
  processStartTime,
  run,
  stopProcesses,
  sysctlPath,
} from './netns.js';

const isRoot = process.getuid?.() === 0;

describe('names', () => {
  it('ifName() cuts to IFNAMSIZ - 1 characters', () => {
    assert.equal(ifName('l0-', 'tor'), 'l0-tor');
    assert.equal(ifName('l12-', 'a-very-long-router-name'), 'l12-a-very-long');
    assert.equal(ifName('l12-', 'a-very-long-router-name').length, IFNAME_MAX);
  });

  it('hostVethName() is cali + 11 hex, stable, and differs between labs for the same pod', () => {
    const a = hostVethName('lab1', 'pod1');
    assert.match(a, new RegExp(`^${HOST_VETH_PREFIX}[0-9a-f]{11}$`));
    assert.equal(a.length, IFNAME_MAX);
    assert.equal(hostVethName('lab1', 'pod1'), a);
    assert.notEqual(hostVethName('lab2', 'pod1'), a);
  });

  it('sysctlPath() accepts dotted and slashed keys', () => {
    assert.equal(sysctlPath('net.ipv4.ip_forward'), '/proc/sys/net/ipv4/ip_forward');
    assert.equal(sysctlPath('net/ipv4/conf/cali1/proxy_arp'), '/proc/sys/net/ipv4/conf/cali1/proxy_arp');
  });

  it('formatCommand() quotes only what needs quoting', () => {
    assert.equal(formatCommand(['ip', '-n', 'caracal.x.n1', 'addr']), 'ip -n caracal.x.n1 addr');
    assert.equal(formatCommand(['sh', '-c', "echo 'hi' > x"]), `sh -c 'echo '\\''hi'\\'' > x'`);
  });
});

describe('run()', () => {
  it('returns stdout, stderr and the exit code', async () => {
    const r = await run(['sh', '-c', 'echo out; echo err >&2; exit 3'], { check: false });
    assert.deepEqual(r, { stdout: 'out\n', stderr: 'err\n', code: 3 });
  });

  it('feeds stdin', async () => {
    assert.equal((await run(['cat'], { input: 'hello' })).stdout, 'hello');
  });

  it('throws LAB_COMMAND_FAILED naming the command and its stderr', async () => {
    await assert.rejects(run(['sh', '-c', 'echo boom >&2; exit 2']), (e) => {
      assert.ok(isCaracalError(e, 'LAB_COMMAND_FAILED'));
      assert.equal(e.message, `Cannot run "sh -c 'echo boom >&2; exit 2'": exit code 2: boom`);
      return true;
    });
  });

  it('says a command was killed for taking longer than timeoutMs, not just "exit code 137"', async () => {
    await assert.rejects(run(['sleep', '30'], { timeoutMs: 100 }), (e) => {
      assert.ok(isCaracalError(e, 'LAB_COMMAND_FAILED'));
      assert.match(
        e.message,
        /^Cannot run "sleep 30": exit code 137: .*killed after 100 ms: it did not finish in time$/,
      );
      return true;
    });
  });

  it('throws LAB_COMMAND_FAILED when the program does not exist', async () => {
    await assert.rejects(
      run(['caracal-no-such-binary']),
      (e) => isCaracalError(e, 'LAB_COMMAND_FAILED') && /caracal-no-such-binary/.test(e.message),
    );
  });

  it('kills a command that outlives its timeout', async () => {
    const r = await run(['sleep', '5'], { check: false, timeoutMs: 50 });
    assert.equal(r.code, 128 + 9);
  });

  it('ipBatch() quotes the batch line that failed', { skip: !isRoot && 'needs root' }, async () => {
    // `link show` of a missing device fails without changing anything on the host.
    await assert.rejects(ipBatch(undefined, ['link show lo', 'link show caracal-nosuch0']), (e) => {
      assert.ok(isCaracalError(e, 'LAB_COMMAND_FAILED'));
      assert.match(e.message, /^Cannot run "ip -batch -": exit code 1: /);
      assert.match(e.message, /batch line 2 is "link show caracal-nosuch0"/);
      return true;
    });
  });
});

describe('processes', () => {
  it('isAlive() checks the start time, so a recycled pid is not mistaken for ours', () => {
    const me = { pid: process.pid, startTime: processStartTime(process.pid) };
    assert.ok(me.startTime !== undefined);
    assert.equal(isAlive(me), true);
    assert.equal(isAlive({ pid: process.pid, startTime: (me.startTime ?? 0) + 1 }), false);
    assert.equal(isAlive({ pid: 2 ** 30 }), false);
  });

  it('stopProcesses() escalates to SIGKILL for a process that ignores SIGTERM', async () => {
    // The trap reports each SIGTERM and carries on, so the order of signals shows in the output, not the clock.
    const child = spawn('sh', ['-c', 'trap "echo term" TERM; echo ready; while :; do sleep 0.05; done'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    let out = '';
    child.stdout.on('data', (b: Buffer) => {
      out += b.toString();
    });
    const exited = new Promise<NodeJS.Signals | null>((r) => child.once('exit', (_code, sig) => r(sig)));
    await new Promise((r) => child.stdout.once('data', r));
    const ref = { pid: child.pid!, startTime: processStartTime(child.pid!) };
    const left = await stopProcesses([ref], 200, 2000);
    assert.deepEqual(left, []);
    assert.equal(isAlive(ref), false);
    assert.equal(await exited, 'SIGKILL', 'escalated to SIGKILL');
    assert.match(out, /term/, 'SIGTERM came first, and the grace period let the shell see it');
  });
});

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { bench, command, commandExists, consume, lastConsumed, sideBySide, suite } from './api.js';

describe('definitions', () => {
  it('suite(), bench() and sideBySide() tag what they build', () => {
    const fn = () => 1;
    assert.deepEqual(suite('s', { cases: [bench('c', fn, { runs: 3 })] }), {
      kind: 'suite',
      name: 's',
      cases: [{ label: 'c', fn, runs: 3 }],
    });
    const p = sideBySide('p', { ours: fn, reference: fn, metric: 'memory' });
    assert.equal(p.kind, 'side-by-side');
    assert.equal(p.metric, 'memory');
  });

  it('consume() keeps the last value', () => {
    consume(42);
    assert.equal(lastConsumed(), 42);
  });
});

describe('command', () => {
  it('command() pipes input to the child and counts its output', async () => {
    const run = command(['cat'], { input: 'hello' });
    assert.deepEqual(await run(), { exitCode: 0, stdoutBytes: 5 });
    assert.deepEqual(await run(), { exitCode: 0, stdoutBytes: 5 }, 'runs again on every call');
  });

  it('command() calls an input function on every run', async () => {
    let n = 0;
    const run = command(['cat'], { input: () => 'x'.repeat(++n) });
    await run();
    assert.equal((await run()).stdoutBytes, 2);
  });

  it('command() rejects on a failing exit code with the stderr text', async () => {
    await assert.rejects(command(['sh', '-c', 'echo nope >&2; exit 3'])(), /exit code 3: nope/);
    assert.equal((await command(['sh', '-c', 'exit 3'], { okExitCodes: [3] })()).exitCode, 3);
  });

  it('command() rejects when the program does not exist', async () => {
    await assert.rejects(command(['caracal-no-such-tool-xyz'])(), /Cannot run command "caracal-no-such-tool-xyz"/);
  });

  it('command() refuses an empty argv', () => {
    assert.throws(() => command([]), TypeError);
  });

  it('commandExists() finds programs on PATH', () => {
    assert.equal(commandExists('sh'), true);
    assert.equal(commandExists('caracal-no-such-tool-xyz'), false);
    assert.equal(commandExists('sh', ''), false);
  });
});

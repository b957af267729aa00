import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isCaracalError } from '../common/errors.js';
import { parseAgentArgs } from './agent.js';

describe('parseAgentArgs()', () => {
  it('parseAgentArgs() takes the flags, with the default socket and time limit', () => {
    assert.deepEqual(parseAgentArgs(['--nodename', 'w1'], {}), {
      nodename: 'w1',
      cniSocket: '/run/caracal/cni.sock',
      requestTimeoutMs: 10_000,
    });
    assert.deepEqual(
      parseAgentArgs(['--cni-socket', '/tmp/x.sock', '--request-timeout-ms', '250', '--nodename', 'w2'], {}),
      { nodename: 'w2', cniSocket: '/tmp/x.sock', requestTimeoutMs: 250 },
    );
  });

  it('parseAgentArgs() takes the node name from CARACAL_NODENAME, then NODENAME, as the plugin does', () => {
    assert.equal(parseAgentArgs([], { CARACAL_NODENAME: 'a', NODENAME: 'b' }).nodename, 'a');
    assert.equal(parseAgentArgs([], { NODENAME: 'b' }).nodename, 'b');
    assert.equal(parseAgentArgs(['--nodename', 'c'], { CARACAL_NODENAME: 'a' }).nodename, 'c');
  });

  it('parseAgentArgs() refuses a missing node name, a flag without value, a bad timeout, an unknown flag', () => {
    const usage = (argv: string[], re: RegExp) =>
      assert.throws(
        () => parseAgentArgs(argv, {}),
        (e: unknown) => isCaracalError(e, 'USAGE') && re.test(e.message),
      );
    usage([], /node name is not set/);
    usage(['--nodename'], /--nodename needs a value/);
    usage(['--nodename', '--cni-socket', 'x'], /--nodename needs a value/);
    usage(['--nodename', 'w', '--request-timeout-ms', '0'], /positive integer: current value is "0"/);
    usage(['--nodename', 'w', '--fast'], /unknown argument "--fast"/);
  });
});

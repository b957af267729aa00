/**
 * The plugin's input handling and the CNI error/result shapes, in-process and without root: configuration
 * defaults and errors (with the spec's codes), CNI_ARGS, pod identity, VERSION, result version conversion.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseCniArgs, parseNetConf, podIdentity, readEnv } from './config.js';
import { hostVethName } from './dataplane.js';
import { CniCode, CniError } from './errors.js';
import { runPlugin } from './plugin.js';
import { resultFor } from './result.js';

const base = { cniVersion: '1.0.0', name: 'caracal', type: 'caracal', ipam: { type: 'caracal' } };
const code = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return e instanceof CniError ? e.code : -1;
  }
  return 0;
};

describe('cni config', () => {
  it('`parseNetConf()` fills defaults: MTU 1500, IPv4 only, kubernetes datastore, host name as node', () => {
    const c = parseNetConf(JSON.stringify(base), { NODENAME: 'w1' });
    assert.equal(c.mtu, 1500);
    assert.equal(c.nodename, 'w1');
    assert.deepEqual([c.ipam.assignIpv4, c.ipam.assignIpv6], [true, false]);
    assert.equal(c.datastore.type, 'kubernetes');
    assert.equal(c.policyWait, undefined);
    const e = parseNetConf(
      JSON.stringify({ ...base, datastore: { type: 'etcdv3', etcdEndpoints: 'http://e:2379' }, policyWait: {} }),
    );
    assert.equal(e.datastore.etcdEndpoints, 'http://e:2379');
    assert.equal(e.policyWait?.timeoutMs, 10_000);
  });

  it('`parseNetConf()` reports bad input with the spec codes and the key', () => {
    assert.equal(
      code(() => parseNetConf('{')),
      CniCode.DecodeFailure,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, cniVersion: '0.2.0' }))),
      CniCode.IncompatibleVersion,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, mtu: 20 }))),
      CniCode.InvalidConfig,
    );
    assert.equal(
      code(() => parseNetConf(JSON.stringify({ ...base, ipam: undefined }))),
      CniCode.InvalidConfig,
    );
    assert.throws(
      () => parseNetConf(JSON.stringify({ ...base, datastore: { type: 'none' } })),
      /ipam.type "caracal" needs a datastore/,
    );
    assert.throws(
      () => parseNetConf(JSON.stringify({ ...base, ipam: { type: 'caracal', ipv4Pools: 'x' } })),
      /ipam.ipv4Pools/,
    );
  });

  it('`readEnv()` needs CNI_CONTAINERID/NETNS/IFNAME for ADD, checks the container ID, not for VERSION', () => {
    assert.equal(
      code(() => readEnv({ CNI_COMMAND: 'ADD' })),
      CniCode.InvalidEnv,
    );
    assert.equal(
      code(() => readEnv({ CNI_COMMAND: 'FOO' })),
      CniCode.InvalidEnv,
    );
    assert.equal(
      code(() => readEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a b', CNI_IFNAME: 'eth0' })),
      CniCode.InvalidEnv,
    );
    assert.equal(readEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0' }).netns, '');
    assert.equal(readEnv({ CNI_COMMAND: 'VERSION' }).command, 'VERSION');
  });

  it('pod identity comes from CNI_ARGS, then runtimeConfig.pod, else the container ID', () => {
    assert.deepEqual(parseCniArgs('IgnoreUnknown=1;K8S_POD_NAME=web-0;K8S_POD_NAMESPACE=shop'), {
      IgnoreUnknown: '1',
      K8S_POD_NAME: 'web-0',
      K8S_POD_NAMESPACE: 'shop',
    });
    const env = (args: string) =>
      readEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_ARGS: args });
    const conf = parseNetConf(JSON.stringify({ ...base, runtimeConfig: { pod: { name: 'p', namespace: 'n' } } }));
    assert.equal(podIdentity(env('K8S_POD_NAME=web-0'), conf).namespace, 'default');
    assert.equal(podIdentity(env(''), conf).name, 'p');
    assert.deepEqual(podIdentity(env(''), parseNetConf(JSON.stringify(base))), {
      namespace: 'default',
      name: 'c1',
      fromOrchestrator: false,
    });
  });

  it('`hostVethName()` is cali + 11 hex, stable, and differs per interface', () => {
    const a = hostVethName('shop', 'web-0', 'eth0');
    assert.match(a, /^cali[0-9a-f]{11}$/);
    assert.equal(a, hostVethName('shop', 'web-0', 'eth0'));
    assert.notEqual(a, hostVethName('shop', 'web-0', 'net1'));
  });

  it('VERSION and errors come out as the spec shapes; 0.4.0 results carry ips[].version', async () => {
    const v = await runPlugin({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
    assert.deepEqual(JSON.parse(v.stdout), {
      cniVersion: '1.0.0',
      supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
    });
    const bad = await runPlugin({ CNI_COMMAND: 'GC' }, JSON.stringify(base));
    assert.equal(bad.exitCode, 1);
    assert.deepEqual(Object.keys(JSON.parse(bad.stdout)).sort(), ['cniVersion', 'code', 'msg']);
    assert.equal(JSON.parse(bad.stdout).code, CniCode.IncompatibleVersion);
    const r = resultFor('0.4.0', { ips: [{ address: '10.0.0.1/32' }, { address: 'fd00::1/128' }] });
    assert.deepEqual(
      (r.ips as { version: string }[]).map((i) => i.version),
      ['4', '6'],
    );
    assert.equal(
      'version' in ((resultFor('1.0.0', { ips: [{ address: '10.0.0.1/32' }] }).ips as object[])[0] ?? {}),
      false,
    );
  });
});

/**
 * `caracalctl ipam …` and `delete -f` end to end against a real etcd: the CLI runs as a child process; the
 * allocations it inspects are made in this process through ipam/ on the same store.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdV3Backend } from '../datastore/etcdv3/backend.js';
import { createDatastore } from '../datastore/store.js';
import type { Datastore } from '../datastore/types.js';
import { Ipam } from '../ipam/index.js';
import { EtcdServer } from '../lab/etcd.js';
import { workloadEndpointName } from '../model/workload-endpoint.js';
import { parseDuration, renderShow } from './ipam.js';

const ROOT = new URL('..', import.meta.url).pathname;
const PREFIX = '/caracal-ctl-ipam-test/v1';

describe('caracalctl ipam', () => {
  let etcd: EtcdServer;
  let dir: string;
  let ds: Datastore;
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'ctl/main.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CARACAL_DATASTORE: 'etcdv3',
        CARACAL_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        CARACAL_ETCD_PREFIX: PREFIX,
        CARACAL_LOG_LEVEL: 'silent',
      },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  before(async () => {
    etcd = await EtcdServer.start();
    dir = mkdtempSync(join(tmpdir(), 'caracalctl-ipam-'));
    ds = createDatastore(new EtcdV3Backend({ endpoints: etcd.endpoints, prefix: PREFIX }));
  });
  after(async () => {
    await ds?.close();
    await etcd?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('apply, show, check, gc, release and delete -f', async () => {
    const manifests = join(dir, 'ipam.yaml');
    writeFileSync(
      manifests,
      [
        'apiVersion: crd.caracal.dev/v1\nkind: IPPool\nmetadata:\n  name: pods-v4\nspec:\n  cidr: 10.60.0.0/24\n  blockSize: 28\n',
        'apiVersion: crd.caracal.dev/v1\nkind: IPAMConfig\nmetadata:\n  name: default\nspec:\n  strictAffinity: true\n',
      ].join('---\n'),
    );
    let r = run('apply', '-f', manifests);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /IPPool\/pods-v4 created\nIPAMConfig\/default created/);
    assert.equal(JSON.parse(run('get', 'ipamconfig', 'default', '-o', 'json').out).spec.strictAffinity, true);

    const ipam = new Ipam(ds);
    const live = (
      await ipam.autoAssign({
        handleId: 'k8s-pod-network.live',
        node: 'w1',
        num4: 1,
        num6: 0,
        attrs: { pod: 'live', namespace: 'default' },
      })
    ).ipv4[0]!;
    const gone = (
      await ipam.autoAssign({
        handleId: 'k8s-pod-network.gone',
        node: 'w1',
        num4: 1,
        num6: 0,
        attrs: { pod: 'gone', namespace: 'default' },
      })
    ).ipv4[0]!;
    await ds.create('WorkloadEndpoint', {
      apiVersion: 'crd.caracal.dev/v1',
      kind: 'WorkloadEndpoint',
      metadata: { name: workloadEndpointName({ node: 'w1', pod: 'live' }), namespace: 'default' },
      spec: { node: 'w1', pod: 'live', interfaceName: 'calilive', ipNetworks: [`${live.ip}/32`] },
    });

    r = run('ipam', 'show', '--show-blocks');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^pods-v4\s+10\.60\.0\.0\/24\s+256\s+1\s+2\s+0\.8%/m);
    assert.match(r.out, /^w1\s+1\s+16\s+2\s+12\.5%\s+0$/m);
    assert.match(r.out, new RegExp(`^${live.blockCidr.replaceAll('.', '\\.')}\\s+w1\\s+16\\s+2`, 'm'));

    r = run('ipam', 'show', '--ip', live.ip, '--ip', '10.60.0.250');
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      new RegExp(
        `^${live.ip.replaceAll('.', '\\.')}\\s+${live.blockCidr.replaceAll('.', '\\.')}\\s+k8s-pod-network\\.live\\s+default/live\\s+w1\\s+${live.sequenceNumber}\\s+false$`,
        'm',
      ),
    );
    assert.match(r.out, /^10\.60\.0\.250\s+free$/m);

    r = run('ipam', 'check');
    assert.equal(r.code, 0, `inside the default grace period nothing is a problem yet: ${r.out}`);
    assert.match(r.out, new RegExp(`candidate: ${gone.ip.replaceAll('.', '\\.')} \\(handle k8s-pod-network.gone\\)`));
    r = run('ipam', 'check', '--grace', '0');
    assert.equal(r.code, 1);
    assert.match(r.out, new RegExp(`PROBLEM leak: ${gone.ip.replaceAll('.', '\\.')}`));

    r = run('ipam', 'gc', '--grace', '0', '--dry-run');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /1 address\(es\) would be released \(dry run/);
    assert.ok(await ds.get('IPAMHandle', 'k8s-pod-network.gone'), 'dry run changed nothing');
    r = run('ipam', 'gc', '--grace', '0');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /released 1 address\(es\)/);
    r = run('ipam', 'check', '--grace', '0');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /No problems found\./);

    r = run('ipam', 'release', '--ip', live.ip, '--seq', String(live.sequenceNumber + 1));
    assert.equal(r.code, 1);
    assert.match(r.err, /sequence number .* no longer matches/);
    r = run('ipam', 'release', '--ip', live.ip, '--seq', String(live.sequenceNumber));
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, new RegExp(`released ${live.ip.replaceAll('.', '\\.')}`));

    r = run('delete', '-f', manifests);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /IPPool\/pods-v4 deleted\nIPAMConfig\/default deleted/);
    r = run('delete', '-f', manifests);
    assert.equal(r.code, 1, 'deleting what is gone reports it');
    assert.match(r.err, /IPPool\/pods-v4 not found/);
  });

  it('`apply` names the field of an invalid IPAMConfig', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'apiVersion: crd.caracal.dev/v1\nkind: IPAMConfig\nmetadata:\n  name: default\nspec:\n  maxBlocksPerHost: 4\n',
    );
    const r = run('apply', '-f', file);
    assert.equal(r.code, 1);
    assert.match(r.err, /spec\.maxBlocksPerHost.*strictAffinity/);
  });

  it('`ipam` without a known subcommand is a usage error', () => {
    const r = run('ipam', 'frob');
    assert.equal(r.code, 2);
    assert.match(r.err, /say show, check, release or gc/);
  });
});

describe('ctl/ipam', () => {
  it('`parseDuration()` reads 15m, 30s, 250ms and bare seconds', () => {
    assert.equal(parseDuration('15m'), 900_000);
    assert.equal(parseDuration('30s'), 30_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('0'), 0);
    assert.throws(() => parseDuration('soon'), /Cannot parse duration "soon"/);
  });
  it('`renderShow()` sums blocks per node and marks unowned blocks', () => {
    const text = renderShow(
      {
        pools: [{ name: 'p', cidr: '10.0.0.0/24', size: 256, hostBits: 8, blocks: 2, allocated: 3, disabled: false }],
        blocks: [
          { cidr: '10.0.0.0/28', node: 'a', size: 16, allocated: 2, borrowed: 1 },
          { cidr: '10.0.0.16/28', node: undefined, size: 16, allocated: 1, borrowed: 1 },
        ],
        problems: [],
        warnings: [],
        leaks: [],
        emptyHandles: [],
        stalePendingAffinities: [],
        goneNodes: [],
      },
      false,
    );
    assert.match(text, /^\(none\)\s+1\s+16\s+1\s+6\.3%\s+1$/m);
    assert.match(text, /^a\s+1\s+16\s+2\s+12\.5%\s+1$/m);
  });
});

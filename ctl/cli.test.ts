/**
 * `caracalctl` end to end against a real etcd (Debian etcd-server): the CLI runs as a child process, as a
 * user would run it, with the datastore chosen by environment variables.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EtcdServer } from '../lab/etcd.js';
import { formatTable, resolveKind } from './resources.js';

const ROOT = new URL('..', import.meta.url).pathname;

describe('caracalctl', () => {
  let etcd: EtcdServer;
  let dir: string;
  const run = (...args: string[]) => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'ctl/main.ts'), ...args], {
      cwd: ROOT,
      encoding: 'utf8',
      env: {
        ...process.env,
        CARACAL_DATASTORE: 'etcdv3',
        CARACAL_ETCD_ENDPOINTS: etcd.endpoints.join(','),
        CARACAL_ETCD_PREFIX: '/caracal-ctl-test/v1',
        CARACAL_LOG_LEVEL: 'silent',
      },
    });
    return { code: r.status, out: r.stdout, err: r.stderr };
  };

  before(async () => {
    etcd = await EtcdServer.start();
    dir = mkdtempSync(join(tmpdir(), 'caracalctl-'));
  });
  after(async () => {
    await etcd?.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('`apply -f` creates, then configures; `get` shows it; `delete` removes it', () => {
    const file = join(dir, 'pool.yaml');
    writeFileSync(
      file,
      `apiVersion: crd.caracal.dev/v1\nkind: IPPool\nmetadata:\n  name: pool-a\nspec:\n  cidr: 10.244.0.0/16\n  natOutgoing: true\n`,
    );
    let r = run('apply', '-f', file);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /IPPool\/pool-a created/);
    const created = JSON.parse(run('get', 'ippool', 'pool-a', '-o', 'json').out);
    assert.ok(created.metadata.uid);
    r = run('apply', '-f', file);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /IPPool\/pool-a configured/);
    const configured = JSON.parse(run('get', 'ippool', 'pool-a', '-o', 'json').out);
    assert.equal(configured.metadata.uid, created.metadata.uid, 'apply keeps the uid the store gave');
    assert.equal(configured.metadata.creationTimestamp, created.metadata.creationTimestamp);

    r = run('get', 'ippools');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^NAME\s+REVISION\npool-a\s+\d+$/m);
    r = run('get', 'ippool', 'pool-a', '-o', 'json');
    const obj = JSON.parse(r.out);
    assert.equal(obj.spec.cidr, '10.244.0.0/16');
    assert.equal(obj.spec.natOutgoing, true);

    r = run('delete', 'ippool', 'pool-a');
    assert.equal(r.code, 0, r.err);
    r = run('get', 'ippool', 'pool-a');
    assert.equal(r.code, 1);
    assert.match(r.err, /not found/);
  });

  it('`apply` rejects an invalid resource naming the field, and stores nothing', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      `apiVersion: crd.caracal.dev/v1\nkind: IPPool\nmetadata:\n  name: bad\nspec:\n  cidr: 10.244.0.0/33\n`,
    );
    const r = run('apply', '-f', file);
    assert.equal(r.code, 1);
    assert.match(r.err, /spec\.cidr/);
    assert.equal(run('get', 'ippools').out.includes('bad'), false);
  });

  it('`apply` of a missing file names the file, exit 1', () => {
    const r = run('apply', '-f', join(dir, 'does-not-exist.yaml'));
    assert.equal(r.code, 1);
    assert.match(r.err, /Cannot apply .*does-not-exist\.yaml: ENOENT/);
  });

  it('bad usage exits 2 with a message', () => {
    const r = run('get');
    assert.equal(r.code, 2);
    assert.match(r.err, /KIND is required/);
    assert.equal(run('frobnicate').code, 2);
  });

  it('a bad CARACAL_DATASTORE is reported by name', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'ctl/main.ts'), 'get', 'ippools'], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, CARACAL_DATASTORE: 'zookeeper', CARACAL_LOG_LEVEL: 'silent' },
    });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /CARACAL_DATASTORE/);
  });
});

describe('ctl/resources', () => {
  it('`resolveKind()` accepts plural, singular, short names and keys', () => {
    assert.equal(resolveKind('ippools'), 'IPPool');
    assert.equal(resolveKind('IPPool'), 'IPPool');
    assert.equal(resolveKind('wep'), 'WorkloadEndpoint');
    assert.equal(resolveKind('node'), 'Node');
    assert.equal(resolveKind('k8snode'), 'K8sNode');
    assert.throws(() => resolveKind('bogus'), /Cannot resolve kind "bogus"/);
  });
  it('`formatTable()` aligns columns', () => {
    assert.equal(formatTable(['A', 'BB'], [['xxx', 'y']]), 'A    BB\nxxx  y');
  });
});

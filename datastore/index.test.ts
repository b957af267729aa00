import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isCaracalError } from '../common/errors.js';
import { datastoreFromEnv, parseEtcdEndpoints } from './index.js';

describe('parseEtcdEndpoints()', () => {
  it('defaults to http://127.0.0.1:2379 and accepts comma-separated http(s) URLs', () => {
    assert.deepEqual(parseEtcdEndpoints(undefined), ['http://127.0.0.1:2379']);
    assert.deepEqual(parseEtcdEndpoints(' '), ['http://127.0.0.1:2379']);
    assert.deepEqual(parseEtcdEndpoints('http://10.0.0.1:2379, https://etcd.example:4001,http://[fd00::1]'), [
      'http://10.0.0.1:2379',
      'https://etcd.example:4001',
      'http://[fd00::1]:2379',
    ]);
  });

  for (const [value, why] of [
    ['127.0.0.1:2379', /without a scheme: write http:\/\/127\.0\.0\.1:2379/],
    ['http://', /not a URL/],
    ['http://a:1,,http://b:2', /empty entry/],
    ['http://etcd:2379/v3', /only scheme, host and port/],
    ['http://:secret@etcd:2379', /only scheme, host and port/], // would have been dropped silently
    ['http://etcd:2379#x', /only scheme, host and port/],
    ['grpc://etcd:2379', /scheme/],
  ] as const) {
    it(`rejects "${value}" with INVALID_CONFIG naming CARACAL_ETCD_ENDPOINTS`, () => {
      assert.throws(
        () => parseEtcdEndpoints(value),
        (e) => {
          assert.ok(isCaracalError(e, ErrorCodes.InvalidConfig));
          assert.equal(e.details.variable, 'CARACAL_ETCD_ENDPOINTS');
          assert.match(e.message, /CARACAL_ETCD_ENDPOINTS/);
          assert.match(e.message, why);
          return true;
        },
      );
    });
  }
});

describe('datastoreFromEnv()', () => {
  it('builds an etcdv3 datastore by default, without connecting yet', async () => {
    const ds = await datastoreFromEnv({ CARACAL_ETCD_ENDPOINTS: 'http://127.0.0.1:1' });
    assert.equal(ds.driver, 'etcdv3');
    await ds.close();
  });

  it('rejects an unknown CARACAL_DATASTORE with INVALID_CONFIG naming the variable', async () => {
    await assert.rejects(datastoreFromEnv({ CARACAL_DATASTORE: 'consul' }), (e) => {
      assert.ok(isCaracalError(e, ErrorCodes.InvalidConfig));
      assert.equal(e.details.variable, 'CARACAL_DATASTORE');
      assert.match(e.message, /must be etcdv3 or kubernetes: current value is "consul"/);
      return true;
    });
  });

  it('rejects a relative CARACAL_ETCD_PREFIX', async () => {
    await assert.rejects(datastoreFromEnv({ CARACAL_ETCD_PREFIX: 'caracal' }), (e) =>
      isCaracalError(e, ErrorCodes.InvalidConfig),
    );
  });
});

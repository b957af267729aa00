import assert from 'node:assert/strict';
import { it } from 'node:test';
import { buildOpen, IPV4_UNICAST, IPV6_UNICAST } from './config.js';
import { negotiate } from './negotiate.js';
import { peerOpen, testConfig } from './testing.js';
import { updateContextFor, wireUpdateDecoder } from './update-decoder.js';

it('`updateContextFor()` takes 4-octet AS, iBGP, ADD-PATH receive and extended next hop from the session', () => {
  const c = testConfig({
    peerAs: 65000,
    addPath: [{ ...IPV6_UNICAST, mode: 'receive' }],
    extendedNextHop: [{ ...IPV4_UNICAST, nextHopAfi: 2 }],
  });
  const s = negotiate(
    buildOpen(c),
    peerOpen(
      c,
      {},
      { addPath: [{ ...IPV6_UNICAST, mode: 'send' }], extendedNextHop: [{ ...IPV4_UNICAST, nextHopAfi: 2 }] },
    ),
  );
  const ctx = updateContextFor(s);
  assert.equal(ctx.fourOctetAs, true);
  assert.equal(ctx.ibgp, true);
  assert.deepEqual(ctx.addPathReceive, [IPV6_UNICAST]);
  assert.deepEqual(ctx.extendedNextHop, [IPV4_UNICAST]);
});

it('`wireUpdateDecoder()` decodes an End-of-RIB marker for IPv4 unicast', () => {
  const c = testConfig();
  const s = negotiate(buildOpen(c), peerOpen(c));
  const u = wireUpdateDecoder()(Buffer.from([0, 0, 0, 0]), s);
  assert.deepEqual(u.endOfRib, IPV4_UNICAST);
});

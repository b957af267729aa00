/**
 * The Speaker as a RouteFeed (model/route-feed.ts): two speakers over loopback, as speaker-loopback.test.ts.
 * B's feed carries A's prefix with A's session address as next hop, and its withdrawal once A stops
 * originating it; B's own originations never appear (they are not installed in the FIB).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { BestRouteChange } from '../../model/route-feed.js';
import { SpeakerConfig } from '../../model/speaker-config.js';
import { Speaker } from '../../speaker/speaker.js';
import { formatIpv4, formatPrefixKey } from '../../speaker/wire/prefix.js';
import { freePort, until as poll } from './support/wait.js';

const until = <T>(what: string, fn: () => T | undefined | false): Promise<T> => poll(what, fn, 10_000, 20);
const FAST = { backoff: { baseMs: 50, maxMs: 200 } };

describe('Speaker as a RouteFeed', () => {
  const cleanups: (() => Promise<void>)[] = [];
  after(async () => {
    for (const c of cleanups) await c();
  });

  it('onChanges() reports a learned prefix with its next hop, then its withdrawal; snapshot() agrees', async () => {
    const port = await freePort('127.0.0.1');
    const sa = new Speaker(
      SpeakerConfig.parse({
        asn: 65001,
        routerId: '10.0.0.1',
        listen: { address: '127.0.0.1', port },
        originate: ['10.244.1.0/26', '10.244.1.64/26'],
        peers: [{ address: '127.0.0.2', asn: 65001, port, connectRetrySec: 1 }],
      }),
      FAST,
    );
    const sb = new Speaker(
      SpeakerConfig.parse({
        asn: 65001,
        routerId: '10.0.0.2',
        listen: { address: '127.0.0.2', port },
        originate: ['10.244.2.0/26'],
        peers: [{ address: '127.0.0.1', asn: 65001, port, localAddress: '127.0.0.2', connectRetrySec: 1 }],
      }),
      FAST,
    );
    const batches: (readonly BestRouteChange[])[] = [];
    const off = sb.onChanges((c) => batches.push(c));
    // The packed form of the same feed (what the FIB worker takes) must say the same.
    const packed: BestRouteChange[] = [];
    const offPacked = sb.onPackedChanges((b) => {
      for (let i = 0; i < b.v4Keys.length; i++) {
        const nh = b.v4NextHops[i]!;
        const prefix = formatPrefixKey(b.v4Keys[i]!);
        packed.push(nh === 0 ? { prefix } : { prefix, nextHop: formatIpv4(nh) });
      }
      packed.push(...b.other);
    });
    await sa.start();
    await sb.start();
    cleanups.push(async () => void (await Promise.all([sa.stop(), sb.stop()])));

    const latest = () => {
      const m = new Map<string, string | undefined>();
      for (const b of batches) for (const c of b) m.set(c.prefix, c.nextHop);
      return m;
    };
    await until("B's feed carries both of A's prefixes", () => latest().get('10.244.1.64/26') !== undefined);
    assert.equal(latest().get('10.244.1.0/26'), '127.0.0.1');
    assert.equal(latest().get('10.244.1.64/26'), '127.0.0.1');
    assert.equal(latest().get('10.244.2.0/26'), undefined, "B's own origination is never a learned route");
    assert.ok(
      batches.every((b) => b.length > 0),
      'a batch per flush, never empty',
    );
    assert.deepEqual(
      sb.snapshot().sort((x, y) => x.prefix.localeCompare(y.prefix)),
      [
        { prefix: '10.244.1.0/26', nextHop: '127.0.0.1' },
        { prefix: '10.244.1.64/26', nextHop: '127.0.0.1' },
      ],
    );

    sa.setOriginated(['10.244.1.0/26']);
    await until(
      'B sees 10.244.1.64/26 withdrawn',
      () => latest().has('10.244.1.64/26') && latest().get('10.244.1.64/26') === undefined,
    );
    const last = batches.at(-1)!;
    assert.deepEqual(last, [{ prefix: '10.244.1.64/26' }]);
    assert.deepEqual(sb.snapshot(), [{ prefix: '10.244.1.0/26', nextHop: '127.0.0.1' }]);

    off();
    offPacked();
    assert.deepEqual(packed, batches.flat(), 'the packed feed carries the same changes in the same order');
    const n = batches.length;
    sa.setOriginated([]);
    await until('B loses the last prefix', () => sb.routes({}).count === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(batches.length, n, 'no batches after unsubscribing');
  });
});

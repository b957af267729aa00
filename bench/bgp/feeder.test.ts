/**
 * The feeder's correctness: it announces exactly N distinct prefixes and an End-of-RIB (decoded with our
 * own codec over loopback), and BIRD as a real receiver ends up with all of them. No timing is asserted
 * (STYLE §2.8): the benchmark reports times, tests check answers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { listNetns } from '../../lab/netns.js';
import { prefixLenV4 } from '../../speaker/wire/index.js';
import { buildFeed, buildPrefixes, startFeeder } from './feeder.js';
import { IngestLab, missingPrerequisite } from './ingest.js';
import { birdReceiver } from './receivers.js';
import { startSink } from './sink.js';

const N = 10_000;

test('buildPrefixes gives distinct, non-overlapping prefixes of the mix', () => {
  for (const mix of ['24', 'mixed'] as const) {
    const keys = buildPrefixes(N, mix);
    assert.equal(new Set(keys).size, N);
    let end = 0;
    for (const k of keys) {
      const len = prefixLenV4(k);
      const addr = (k - len) / 64;
      assert.ok(addr >= end, 'ascending and non-overlapping');
      end = addr + 2 ** (32 - len);
      if (mix === '24') assert.equal(len, 24);
      else assert.ok(len >= 18 && len <= 24);
    }
  }
});

test('the feeder announces exactly N distinct prefixes and an End-of-RIB (loopback, our decoder)', async (t) => {
  const sink = await startSink({ decode: true });
  t.after(() => sink.close());
  const feed = buildFeed({ n: N, localAs: 65001, nextHop: '127.0.0.1' });
  assert.equal(feed.prefixes, N);
  const h = await startFeeder({ host: '127.0.0.1', port: sink.port, localAs: 65001, routerId: '127.0.0.1', feed });
  t.after(() => h.stop());
  const est = await h.established;
  const sent = await h.sent;
  assert.ok(sent >= est);
  const s = await sink.session;
  await s.done;
  assert.equal(s.endOfRib, true);
  assert.equal(s.prefixes.size, N);
  assert.equal(s.announced, N, 'no prefix announced twice');
  assert.deepEqual(
    [...s.prefixes].sort((a, b) => a - b),
    buildPrefixes(N),
  );
  assert.equal(s.updates, feed.messages + 1, 'every pre-encoded UPDATE, then End-of-RIB');
  await h.stop();
});

test('BIRD as a receiver gets all N routes from the feeder', async (t) => {
  const why = missingPrerequisite(['bird', 'birdc']);
  if (why) {
    t.skip(why);
    return;
  }
  const lab = await IngestLab.up();
  t.after(() => lab.down());
  const namespaces = [lab.feederNetns, lab.receiverNetns];
  const sample = await lab.measure(birdReceiver, N, { timeoutMs: 60_000, settleMs: 0 });
  assert.equal(sample.routes, N);
  assert.ok(sample.peakRssBytes > 0);
  await lab.down();
  const left = listNetns().filter((ns) => namespaces.includes(ns));
  assert.deepEqual(left, [], 'the lab removed its namespaces');
});

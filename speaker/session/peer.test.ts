import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { MessageFramer } from '../wire/framing.js';
import { decodeNotification, encodeKeepalive } from '../wire/messages.js';
import { encodeOpen } from '../wire/open.js';
import { MessageType, type UpdateMessage } from '../wire/types.js';
import type { DownReason } from './fsm.js';
import type { NegotiatedSession } from './negotiate.js';
import { Listener, type Md5Port, normalizeAddress, Peer } from './peer.js';
import { FakeClock, peerOpen, testConfig } from './testing.js';
import { wireUpdateDecoder } from './update-decoder.js';

const FAST = { baseMs: 5, maxMs: 20, minMs: 1 };

function until<T>(p: Promise<T>, ms = 5000, what = 'event'): Promise<T> {
  return Promise.race([
    p,
    new Promise<T>((_, rej) => setTimeout(() => rej(new Error(`Timed out waiting for ${what}`)), ms).unref()),
  ]);
}

/** A scripted remote speaker on 127.0.0.1: `onConn` gets the socket and a collected list of received messages. */
async function rawPeer(
  onConn: (s: Socket, got: { type: number; body: Buffer }[]) => void,
): Promise<{ server: Server; port: number; got: { type: number; body: Buffer }[][] }> {
  const all: { type: number; body: Buffer }[][] = [];
  const server = createServer((s) => {
    const got: { type: number; body: Buffer }[] = [];
    all.push(got);
    const f = new MessageFramer();
    s.on('data', (d) => {
      f.push(d);
      try {
        for (let m = f.pull(); m; m = f.pull()) got.push({ type: m[18]!, body: Buffer.from(m.subarray(19)) });
      } catch {
        s.destroy();
      }
    });
    s.on('error', () => {});
    onConn(s, got);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: (server.address() as AddressInfo).port, got: all };
}

const servers: { close(): unknown }[] = [];
after(() => {
  for (const s of servers) s.close();
});

describe('Peer over loopback', () => {
  it('`Peer` reaches Established with a passive Peer behind a `Listener` and both exchange KEEPALIVEs (IPv4 and IPv6)', async () => {
    for (const [a, b] of [
      ['127.0.0.1', '127.0.0.1'],
      ['::1', '::1'],
    ] as const) {
      const cfgB = testConfig({ localAs: 65001, peerAs: 65000, bgpId: 2, holdTimeSec: 3, passive: true });
      const cfgA = testConfig({ holdTimeSec: 3 });
      const listener = new Listener({ port: 0, host: b });
      const pb = new Peer({ config: cfgB, peerAddress: a, backoff: FAST });
      listener.addPeer(pb);
      const port = await listener.listen();
      servers.push(listener);
      const pa = new Peer({ config: cfgA, peerAddress: b, peerPort: port, backoff: FAST });
      const upA = once(pa, 'established') as Promise<[NegotiatedSession]>;
      const upB = once(pb, 'established') as Promise<[NegotiatedSession]>;
      pb.start();
      pa.start();
      const [[sa], [sb]] = await until(Promise.all([upA, upB]), 5000, 'Established');
      assert.equal(pa.state, 'Established');
      assert.equal(pb.state, 'Established');
      assert.deepEqual([sa.holdTimeSec, sa.keepaliveSec, sa.peerAs, sb.peerAs], [3, 1, 65001, 65000]);
      assert.equal(sa.requireExplicitPolicy, true);
      const before = pa.counters.keepalivesIn;
      await new Promise((r) => setTimeout(r, 1300));
      assert.ok(pa.counters.keepalivesIn > before, 'a KEEPALIVE arrived after Established');
      assert.ok(pb.counters.keepalivesIn >= 2);
      const downB = once(pb, 'down') as Promise<[DownReason]>;
      pa.stop();
      const [reason] = await until(downB, 3000, 'down');
      assert.deepEqual(
        [reason.kind, reason.code, reason.subcode, reason.wasEstablished],
        ['notification-received', 6, 2, true],
      );
      pb.stop();
      await listener.close();
    }
  });

  it('`Listener` on the dual-stack "::" dispatches an IPv4 peer (seen as ::ffff:127.0.0.1)', async () => {
    const listener = new Listener({ port: 0 });
    const pb = new Peer({
      config: testConfig({ localAs: 65001, peerAs: 65000, bgpId: 2, passive: true }),
      peerAddress: '127.0.0.1',
    });
    listener.addPeer(pb);
    const port = await listener.listen();
    servers.push(listener);
    const pa = new Peer({ config: testConfig(), peerAddress: '127.0.0.1', peerPort: port });
    const up = Promise.all([once(pa, 'established'), once(pb, 'established')]);
    pb.start();
    pa.start();
    await until(up, 5000, 'Established');
    pa.stop();
    pb.stop();
  });

  it('`Peer` resolves a connection collision when both sides dial: one connection each, both Established', async () => {
    const cfgA = testConfig({ bgpId: 1 });
    const cfgB = testConfig({ localAs: 65001, peerAs: 65000, bgpId: 2 });
    const la = new Listener({ port: 0, host: '127.0.0.1' });
    const lb = new Listener({ port: 0, host: '127.0.0.2' });
    servers.push(la, lb);
    const [portA, portB] = await Promise.all([la.listen(), lb.listen()]);
    const pa2 = new Peer({
      config: cfgA,
      peerAddress: '127.0.0.2',
      peerPort: portB,
      localAddress: '127.0.0.1',
      backoff: FAST,
    });
    const pb2 = new Peer({
      config: cfgB,
      peerAddress: '127.0.0.1',
      peerPort: portA,
      localAddress: '127.0.0.2',
      backoff: FAST,
    });
    la.addPeer(pa2);
    lb.addPeer(pb2);
    const up = Promise.all([once(pa2, 'established'), once(pb2, 'established')]);
    pa2.start();
    pb2.start();
    await until(up, 5000, 'Established');
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(pa2.state, 'Established');
    assert.equal(pb2.state, 'Established');
    assert.equal(pa2.connectionCount, 1);
    assert.equal(pb2.connectionCount, 1);
    pa2.stop();
    pb2.stop();
  });

  it('`Peer` sends NOTIFICATION 4/0 and goes down when the hold timer expires (fake clock)', async () => {
    const clock = new FakeClock();
    const config = testConfig({ holdTimeSec: 9 });
    const raw = await rawPeer((s) => {
      s.write(encodeOpen(peerOpen(config)));
      s.write(encodeKeepalive());
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, clock, autoRestart: false });
    const up = once(p, 'established');
    p.start();
    await until(up, 3000, 'Established');
    const down = once(p, 'down') as Promise<[DownReason]>;
    clock.advance(8_999);
    assert.equal(p.state, 'Established', 'keepalives we send do not refresh the hold timer');
    clock.advance(1);
    const [reason] = await until(down, 1000, 'down');
    assert.deepEqual([reason.kind, reason.code, reason.subcode, reason.sent], ['hold-timer-expired', 4, 0, true]);
    assert.equal(p.state, 'Idle');
    await new Promise((r) => setTimeout(r, 100));
    const got = raw.got[0]!;
    const last = got.at(-1)!;
    assert.equal(last.type, MessageType.Notification);
    const n = decodeNotification(last.body);
    assert.deepEqual([n.code, n.subcode], [4, 0]);
    assert.equal(
      got.filter((m) => m.type === MessageType.Keepalive).length,
      1 + 2,
      'KEEPALIVE after OPEN, then every 3 s',
    );
  });

  it('`Peer` restarts the hold timer on every received message', async () => {
    const clock = new FakeClock();
    const config = testConfig({ holdTimeSec: 9 });
    let sock: Socket | undefined;
    const raw = await rawPeer((s) => {
      sock = s;
      s.write(encodeOpen(peerOpen(config)));
      s.write(encodeKeepalive());
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, clock, autoRestart: false });
    const up = once(p, 'established');
    p.start();
    await until(up, 3000, 'Established');
    clock.advance(6000);
    sock!.write(encodeKeepalive());
    await new Promise((r) => setTimeout(r, 50));
    clock.advance(6000);
    assert.equal(p.state, 'Established');
    p.stop();
  });

  it('`Peer` answers garbage with NOTIFICATION 1/1 and goes down without an exception escaping', async () => {
    const raw = await rawPeer((s) => {
      s.write(Buffer.alloc(40, 0x00));
    });
    servers.push(raw.server);
    const errors: unknown[] = [];
    const onUncaught = (e: unknown) => errors.push(e);
    process.on('uncaughtException', onUncaught);
    const p = new Peer({ config: testConfig(), peerAddress: '127.0.0.1', peerPort: raw.port, autoRestart: false });
    const down = once(p, 'down') as Promise<[DownReason]>;
    p.start();
    const [reason] = await until(down, 3000, 'down');
    assert.deepEqual([reason.kind, reason.code, reason.subcode], ['header-error', 1, 1]);
    await new Promise((r) => setTimeout(r, 100));
    process.off('uncaughtException', onUncaught);
    assert.deepEqual(errors, []);
    const got = raw.got[0]!;
    assert.deepEqual(
      got.map((m) => m.type),
      [MessageType.Open, MessageType.Notification],
    );
    const n = decodeNotification(got[1]!.body);
    assert.deepEqual([n.code, n.subcode], [1, 1]);
  });

  it('`Peer` answers a bad OPEN (wrong peer AS) with NOTIFICATION 2/2', async () => {
    const config = testConfig();
    const raw = await rawPeer((s) => {
      s.write(encodeOpen(peerOpen(config, { myAs: 65099 }, { fourOctetAs: 65099 })));
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, autoRestart: false });
    const down = once(p, 'down') as Promise<[DownReason]>;
    p.start();
    const [reason] = await until(down, 3000, 'down');
    assert.deepEqual([reason.kind, reason.code, reason.subcode, reason.sent], ['open-error', 2, 2, true]);
  });

  it('`Peer` delivers a raw UPDATE when no decoder is wired and survives a listener that throws', async () => {
    const config = testConfig();
    const update = Buffer.alloc(23, 0xff);
    update.writeUInt16BE(23, 16);
    update[18] = MessageType.Update;
    update.writeUInt32BE(0, 19);
    const raw = await rawPeer((s) => {
      s.write(encodeOpen(peerOpen(config)));
      s.write(encodeKeepalive());
      s.on('data', () => {
        s.write(update);
      });
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, autoRestart: false });
    p.on('established', () => {
      throw new Error('listener bug');
    });
    const got = once(p, 'update') as Promise<[Uint8Array]>;
    p.start();
    const [u] = await until(got, 3000, 'update');
    assert.equal(u.length, 23);
    assert.equal(p.state, 'Established');
    p.stop();
  });

  it('`Peer` dials through the MD5 port when a password is set, and `Listener` keys its fd per peer', async () => {
    const calls: unknown[][] = [];
    const md5: Md5Port = {
      setKey: (fd, addr, key) => calls.push(['setKey', typeof fd, addr, key]),
      createSocket: (fam, addr, key) => {
        calls.push(['createSocket', fam, addr, key]);
        throw new Error('no MD5 here');
      },
    };
    const p = new Peer({
      config: testConfig(),
      peerAddress: '127.0.0.1',
      peerPort: 1,
      password: 'pw',
      md5,
      autoRestart: false,
    });
    const l = new Listener({ port: 0, host: '127.0.0.1', md5 });
    l.addPeer(p);
    await l.listen();
    servers.push(l);
    const down = once(p, 'down') as Promise<[DownReason]>;
    p.start();
    const [reason] = await until(down, 2000, 'down');
    assert.equal(reason.kind, 'tcp-failed');
    l.removePeer(p);
    assert.deepEqual(calls, [
      ['setKey', 'number', '127.0.0.1', 'pw'],
      ['createSocket', 4, '127.0.0.1', 'pw'],
      ['setKey', 'number', '127.0.0.1', undefined],
    ]);
  });

  it('`Peer` reconnects with backoff after the connection drops, and emits peer-restarted on an OPEN with the R bit', async () => {
    const config = testConfig({ gracefulRestart: { restartTimeSec: 60, restarting: false, forwardingPreserved: [] } });
    let n = 0;
    const raw = await rawPeer((s) => {
      n++;
      const gr = { restarting: n > 1, notification: false, restartTimeSec: 30, afiSafis: [] };
      s.write(encodeOpen(peerOpen(config, {}, { gracefulRestart: gr })));
      s.write(encodeKeepalive());
      if (n === 1) setTimeout(() => s.destroy(), 50);
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, backoff: FAST });
    const downs: DownReason[] = [];
    p.on('down', (r) => downs.push(r));
    p.on('down', () => {
      throw new Error('listener bug: must not stop the automatic restart');
    });
    const restarted = once(p, 'peer-restarted') as Promise<[NegotiatedSession]>;
    p.start();
    const [s] = await until(restarted, 3000, 'peer-restarted');
    assert.equal(s.gracefulRestart?.peerRestartTimeSec, 30);
    assert.equal(downs[0]?.kind, 'tcp-failed');
    assert.equal(downs[0]?.retainRoutes, true, 'RFC 4724: keep the routes as stale');
    p.stop();
  });

  it('`Peer` keeps the session on an RFC 7606 treat-as-withdraw UPDATE and resets it on a malformed attribute list', async () => {
    const config = testConfig();
    const update = (attrs: number[], attrLen = attrs.length) => {
      const body = Buffer.from([0, 0, attrLen >> 8, attrLen & 0xff, ...attrs, 24, 198, 51, 100]);
      const m = Buffer.alloc(19 + body.length, 0xff);
      m.writeUInt16BE(m.length, 16);
      m[18] = MessageType.Update;
      body.copy(m, 19);
      return m;
    };
    const aspath = [0x40, 2, 6, 2, 1, 0, 0, 0xfd, 0xe9]; // AS_SEQUENCE [65001], 4-octet
    const nexthop = [0x40, 3, 4, 127, 0, 0, 1];
    const badOrigin = update([0x40, 1, 1, 5, ...aspath, ...nexthop]); // RFC 7606 §7.1: treat-as-withdraw
    const overrun = update([0x40, 1, 1, 0, ...aspath, ...nexthop], 200); // RFC 7606 §4: session reset
    const raw = await rawPeer((s, got) => {
      s.write(encodeOpen(peerOpen(config)));
      s.write(encodeKeepalive());
      const t = setInterval(() => {
        if (got.length >= 2) {
          clearInterval(t);
          s.write(badOrigin);
          setTimeout(() => s.write(overrun), 50);
        }
      }, 5);
    });
    servers.push(raw.server);
    const p = new Peer({
      config,
      peerAddress: '127.0.0.1',
      peerPort: raw.port,
      autoRestart: false,
      decodeUpdate: wireUpdateDecoder(),
    });
    const got = once(p, 'update') as Promise<[UpdateMessage]>;
    const down = once(p, 'down') as Promise<[DownReason]>;
    p.start();
    const [u] = await until(got, 3000, 'update');
    assert.equal(u.treatAsWithdraw, true);
    const [reason] = await until(down, 3000, 'down');
    assert.deepEqual([reason.kind, reason.code, reason.sent, reason.wasEstablished], ['update-error', 3, true, true]);
    await new Promise((r) => setTimeout(r, 50));
    const last = raw.got[0]!.at(-1)!;
    assert.equal(last.type, MessageType.Notification);
    assert.equal(decodeNotification(last.body).code, 3);
  });

  it('`Peer` handles a peer that writes one byte at a time', async () => {
    const config = testConfig();
    const update = Buffer.alloc(23, 0xff);
    update.writeUInt16BE(23, 16);
    update[18] = MessageType.Update;
    update.writeUInt32BE(0, 19);
    const bytes = Buffer.concat([encodeOpen(peerOpen(config)), encodeKeepalive(), update]);
    const raw = await rawPeer((s) => {
      let i = 0;
      const next = () => {
        if (i >= bytes.length || s.destroyed) return;
        s.write(bytes.subarray(i, ++i), () => setImmediate(next));
      };
      next();
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, autoRestart: false });
    const got = once(p, 'update');
    p.start();
    await until(got, 5000, 'update');
    assert.equal(p.state, 'Established');
    p.stop();
  });

  it('`Peer` with a negotiated hold time of 0 sends no KEEPALIVEs and never times out', async () => {
    const clock = new FakeClock();
    const config = testConfig({ holdTimeSec: 0 });
    const raw = await rawPeer((s) => {
      s.write(encodeOpen(peerOpen(config)));
      s.write(encodeKeepalive());
    });
    servers.push(raw.server);
    const p = new Peer({ config, peerAddress: '127.0.0.1', peerPort: raw.port, clock, autoRestart: false });
    const up = once(p, 'established') as Promise<[NegotiatedSession]>;
    p.start();
    const [s] = await until(up, 3000, 'Established');
    assert.deepEqual([s.holdTimeSec, s.keepaliveSec], [0, 0]);
    const sent = p.counters.keepalivesOut;
    clock.advance(3_600_000);
    assert.equal(p.state, 'Established');
    assert.equal(p.counters.keepalivesOut, sent);
    assert.equal(clock.pending, 0, 'no timer is left running');
    p.stop();
  });

  it('`normalizeAddress()` unmaps IPv4-mapped IPv6 addresses', () => {
    assert.equal(normalizeAddress('::ffff:10.0.0.1'), '10.0.0.1');
    assert.equal(normalizeAddress('FD00::1'), 'fd00::1');
  });
});

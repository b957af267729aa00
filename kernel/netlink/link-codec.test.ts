/**
 * link-codec.ts, pure: message layouts (header, nested IFLA_LINKINFO / VETH_INFO_PEER, address and neighbour
 * bodies), decoders on crafted replies, and the property that random bytes decode or throw a TypeError.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeAddr,
  decodeLink,
  encodeDelLink,
  encodeNewAddr,
  encodeNewNeigh,
  encodeNewVeth,
  encodeSetLink,
  formatMac,
  IflaInfo,
  IflaType,
  LinkMsgType,
  macBytes,
  VETH_INFO_PEER,
} from './link-codec.js';

/** Attributes of a body from `start`: [type, value view] in order. */
function attrs(buf: Buffer, start: number): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let p = start;
  while (p + 4 <= buf.length) {
    const len = buf.readUInt16LE(p);
    out.push([buf.readUInt16LE(p + 2), buf.subarray(p + 4, p + len)]);
    p += (len + 3) & ~3;
  }
  return out;
}
const get = (as: [number, Buffer][], t: number) => as.find(([x]) => x === t)?.[1];

describe('link-codec', () => {
  it('`encodeNewVeth()` nests the peer (ifinfomsg + attributes) under IFLA_LINKINFO/IFLA_INFO_DATA', () => {
    const m = encodeNewVeth(
      { name: 'cali0123456789a', mac: 'ee:ee:ee:ee:ee:ee', mtu: 1450 },
      { name: 'eth0', mtu: 1450, netnsFd: 42 },
      7,
    );
    assert.equal(m.readUInt32LE(0), m.length);
    assert.equal(m.readUInt16LE(4), LinkMsgType.NewLink);
    assert.equal(m.readUInt16LE(6), 0x1 | 0x4 | 0x400 | 0x200); // REQUEST|ACK|CREATE|EXCL
    assert.equal(m.readUInt32LE(8), 7);
    const top = attrs(m, 16 + 16);
    assert.equal(get(top, IflaType.IfName)?.toString(), 'cali0123456789a\0');
    assert.equal(formatMac(get(top, IflaType.Address) as Buffer), 'ee:ee:ee:ee:ee:ee');
    assert.equal(get(top, IflaType.Mtu)?.readUInt32LE(0), 1450);
    const info = attrs(get(top, IflaType.LinkInfo) as Buffer, 0);
    assert.equal(get(info, IflaInfo.Kind)?.toString(), 'veth\0');
    const data = attrs(get(info, IflaInfo.Data) as Buffer, 0);
    const peer = get(data, VETH_INFO_PEER) as Buffer;
    const peerAttrs = attrs(peer, 16); // after the peer's own struct ifinfomsg
    assert.equal(get(peerAttrs, IflaType.IfName)?.toString(), 'eth0\0');
    assert.equal(get(peerAttrs, IflaType.NetNsFd)?.readUInt32LE(0), 42);
  });

  it('`encodeSetLink()` sets IFF_UP in flags and change mask; by name puts IFLA_IFNAME', () => {
    const m = encodeSetLink({ name: 'x' }, { up: true, mtu: 9000 }, 1);
    assert.equal(m.readUInt16LE(4), LinkMsgType.SetLink);
    assert.equal(m.readInt32LE(16 + 4), 0);
    assert.equal(m.readUInt32LE(16 + 8), 1);
    assert.equal(m.readUInt32LE(16 + 12), 1);
    const as = attrs(m, 32);
    assert.equal(get(as, IflaType.IfName)?.toString(), 'x\0');
    assert.equal(get(as, IflaType.Mtu)?.readUInt32LE(0), 9000);
    const down = encodeDelLink({ index: 5 }, 2);
    assert.equal(down.readInt32LE(16 + 4), 5);
    assert.equal(down.length, 32);
  });

  it('`encodeNewAddr()` writes IFA_LOCAL and IFA_ADDRESS; IPv6 gets IFA_F_NODAD', () => {
    const v4 = encodeNewAddr({ family: 4, index: 3, address: '10.244.0.5', prefixLen: 32 }, 1);
    assert.deepEqual([v4[16], v4[17], v4.readUInt32LE(20)], [2, 32, 3]);
    assert.deepEqual([...(get(attrs(v4, 24), 2) as Buffer)], [10, 244, 0, 5]);
    const v6 = encodeNewAddr({ family: 6, index: 3, address: 'fd00::5', prefixLen: 128 }, 1);
    assert.equal(v6[16], 10);
    assert.equal((get(attrs(v6, 24), 8) as Buffer).readUInt32LE(0) & 0x02, 0x02);
    const n = encodeNewNeigh({ family: 4, index: 3, dst: '169.254.1.1', lladdr: 'ee:ee:ee:ee:ee:ee' }, 1);
    assert.equal(n.readUInt16LE(4), LinkMsgType.NewNeigh);
    assert.equal(n.readUInt16LE(16 + 8), 0x80); // NUD_PERMANENT
  });

  it('`decodeLink()` and `decodeAddr()` read crafted replies', () => {
    // An RTM_NEWLINK body: ifinfomsg(index 9, flags UP) + IFNAME + ADDRESS + MTU + IFALIAS + LINKINFO{KIND}
    const body = encodeSetLink({ index: 9 }, { up: true, mtu: 1400, alias: 'caracal:c1' }, 1).subarray(16);
    const withName = Buffer.concat([
      body,
      Buffer.from([12, 0, IflaType.IfName, 0, ...Buffer.from('eth0\0\0\0\0')]),
      Buffer.from([10, 0, IflaType.Address, 0, 2, 1, 2, 3, 4, 5, 0, 0]),
      Buffer.from([16, 0, IflaType.LinkInfo, 0, 9, 0, IflaInfo.Kind, 0, ...Buffer.from('veth\0'), 0, 0, 0]),
    ]);
    const l = decodeLink(withName);
    assert.deepEqual(
      { ...l },
      { index: 9, name: 'eth0', flags: 1, mtu: 1400, alias: 'caracal:c1', mac: '02:01:02:03:04:05', kind: 'veth' },
    );
    const a = decodeAddr(encodeNewAddr({ family: 6, index: 4, address: 'fd00::7', prefixLen: 128 }, 1).subarray(16));
    assert.equal(a?.address, 'fd00::7');
    assert.equal(a?.index, 4);
    assert.throws(() => decodeLink(Buffer.alloc(3)), TypeError);
  });

  it('`macBytes()` refuses anything but six hex pairs', () => {
    assert.deepEqual([...macBytes('0a:58:0A:f4:03:01')], [10, 0x58, 10, 0xf4, 3, 1]);
    for (const bad of ['', '0a:58:0a:f4:03', '0a:58:0a:f4:03:1g', '0a-58-0a-f4-03-01'])
      assert.throws(() => macBytes(bad), TypeError);
  });

  it('random bytes either decode or throw a TypeError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        for (const f of [decodeLink, decodeAddr]) {
          try {
            f(Buffer.from(bytes));
          } catch (e) {
            if (!(e instanceof TypeError)) throw e;
          }
        }
      }),
    );
  });
});

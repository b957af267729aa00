import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { isCaracalError } from '../common/errors.js';
import {
  endpointAddresses,
  formatPath,
  ipValue,
  isNetworkCidr,
  parseCidr,
  parseTopology,
  parseTopologyYaml,
  routerIdOf,
  type Topology,
} from './topology.js';

const example = (f: string) => fileURLToPath(new URL(`./examples/${f}`, import.meta.url));

/** The problems a topology is rejected with (asserting it is rejected with LAB_INVALID). */
function problems(input: unknown): string[] {
  try {
    parseTopology(input);
  } catch (e) {
    assert.ok(isCaracalError(e, 'LAB_INVALID'), `expected LAB_INVALID, got ${String(e)}`);
    return e.details.problems as string[];
  }
  assert.fail('expected the topology to be rejected');
}

const base = {
  name: 'x',
  nodes: [{ name: 'node1' }, { name: 'node2' }],
  routers: [{ name: 'tor', daemon: 'bird', asNumber: 65000, routerId: '10.0.0.1' }],
};

describe('parseTopology()', () => {
  it('accepts both examples and normalises them', () => {
    const demo = parseTopologyYaml(readFileSync(example('three-nodes-tor.yaml'), 'utf8'));
    assert.equal(demo.name, 'demo');
    assert.equal(demo.nodes.length, 3);
    assert.equal(demo.pods.length, 6);
    assert.deepEqual(demo.pods[0]?.ip, ['10.244.1.2/32']);
    assert.deepEqual(
      demo.routers.map((r) => r.daemon),
      ['bird', 'frr'],
    );
    assert.deepEqual(demo.links[0], {
      kind: 'p2p',
      a: 'node1',
      b: 'tor',
      addresses: { a: ['10.0.1.2/30'], b: ['10.0.1.1/30'] },
      mtu: undefined,
    });
    assert.equal(demo.routers[0]?.peers[0]?.holdTimeSec, 9);
    assert.equal(demo.routers[0]?.peers[0]?.passive, false);

    const interop = parseTopologyYaml(readFileSync(example('routers-interop.yaml'), 'utf8'));
    assert.deepEqual(
      interop.routers.map((r) => r.daemon),
      ['bird', 'frr', 'gobgp'],
    );
    assert.deepEqual(interop.links[0], {
      kind: 'lan',
      lan: 'fabric',
      members: { bird1: ['10.9.0.1/24'], frr1: ['10.9.0.2/24'], gobgp1: ['10.9.0.3/24'] },
      mtu: undefined,
    });
    assert.equal(interop.routers[0]?.peers[0]?.password, 'caracal-md5');
  });

  it('re-parses its own output unchanged (state files store the parsed form)', () => {
    const t = parseTopologyYaml(readFileSync(example('three-nodes-tor.yaml'), 'utf8'));
    const again: Topology = parseTopology(JSON.parse(JSON.stringify(t)));
    assert.deepEqual(JSON.parse(JSON.stringify(again)), JSON.parse(JSON.stringify(t)));
  });

  it('adds /32 or /128 to bare pod addresses and accepts dual stack', () => {
    const t = parseTopology({ ...base, pods: [{ name: 'p', node: 'node1', ip: ['10.244.0.5', 'fd00::5'] }] });
    assert.deepEqual(t.pods[0]?.ip, ['10.244.0.5/32', 'fd00::5/128']);
  });

  it('turns `etcd: true` into an empty etcd spec and `false` into none', () => {
    assert.deepEqual(parseTopology({ ...base, etcd: true }).etcd, {});
    assert.equal(parseTopology({ ...base, etcd: false }).etcd, undefined);
    assert.deepEqual(parseTopology({ ...base, etcd: { on: 'node1' } }).etcd, { on: 'node1' });
  });

  it('names the path of an unknown link endpoint', () => {
    const links = [
      { a: 'node1', b: 'tor' },
      { a: 'node2', b: 'tor' },
      { a: 'node1', b: 'tor2' },
    ];
    assert.deepEqual(problems({ ...base, links }), ['links[2].b: unknown endpoint "tor2": must be a node or router']);
  });

  it('puts every problem in the message, path first', () => {
    try {
      parseTopology({
        ...base,
        pods: [{ name: 'p', node: 'node9', ip: '10.0.0.1/32' }],
        links: [{ a: 'x', b: 'tor' }],
      });
      assert.fail('expected a rejection');
    } catch (e) {
      assert.ok(isCaracalError(e, 'LAB_INVALID'));
      assert.match(e.message, /^Cannot load lab topology: /);
      assert.match(e.message, /pods\[0\]\.node: unknown node "node9"/);
      assert.match(e.message, /links\[0\]\.a: unknown endpoint "x"/);
    }
  });

  it('rejects duplicate names across nodes, pods, routers and lans', () => {
    assert.deepEqual(problems({ ...base, pods: [{ name: 'tor', node: 'node1', ip: '10.0.0.1' }] }), [
      'pods[0].name: "tor" is already used by routers[0]',
    ]);
    assert.deepEqual(problems({ ...base, links: [{ lan: 'node2', members: { node1: null } }] }), [
      'links[0].lan: "node2" is already used by nodes[1]',
    ]);
  });

  it('rejects pod addresses that are not /32 or /128, or used twice', () => {
    assert.deepEqual(problems({ ...base, pods: [{ name: 'p', node: 'node1', ip: '10.0.0.0/24' }] }), [
      'pods[0].ip[0]: must be a /32 or /128 address: current value is "10.0.0.0/24"',
    ]);
    const pods = [
      { name: 'p1', node: 'node1', ip: '10.0.0.1' },
      { name: 'p2', node: 'node2', ip: '10.0.0.1/32' },
    ];
    assert.deepEqual(problems({ ...base, pods }), ['pods[1].ip: 10.0.0.1/32 is already used by pods[0]']);
  });

  it('needs a router id when the router has no IPv4 address', () => {
    const routers = [{ name: 'r', daemon: 'frr', asNumber: 1 }];
    assert.deepEqual(problems({ name: 'x', routers }), [
      'routers[0].routerId: required: the router has no IPv4 address to take it from',
    ]);
  });

  it('takes the router id from the first IPv4 address when none is given', () => {
    const t = parseTopology({
      name: 'x',
      nodes: [{ name: 'n' }],
      routers: [{ name: 'r', daemon: 'gobgp', asNumber: 1 }],
      links: [{ a: 'n', b: 'r', addresses: { a: '10.1.0.1/24', b: ['fd00::2/64', '10.1.0.2/24'] } }],
    });
    assert.equal(routerIdOf(t, t.routers[0]!), '10.1.0.2');
    assert.deepEqual(endpointAddresses(t, 'r'), ['fd00::2/64', '10.1.0.2/24']);
  });

  it('rejects originated networks and routes with host bits, and routes across families', () => {
    const routers = [{ ...base.routers[0], networks: ['10.1.0.1/24'] }];
    assert.deepEqual(problems({ ...base, routers }), [
      'routers[0].networks[0]: must have no host bits set: current value is 10.1.0.1/24',
    ]);
    assert.deepEqual(problems({ ...base, routes: [{ on: 'node1', dst: '10.0.0.0/8', via: 'fd00::1' }] }), [
      'routes[0].via: must be IPv4 like dst: current value is fd00::1',
    ]);
    assert.deepEqual(problems({ ...base, routes: [{ on: 'pod', dst: 'default', via: '10.0.0.1' }] }), [
      'routes[0].on: unknown endpoint "pod": must be a node or router',
    ]);
  });

  it('reports shape errors with their paths', () => {
    assert.deepEqual(
      problems({ ...base, routers: [{ name: 'r', daemon: 'quagga', asNumber: 0, routerId: '1.1.1.1' }] }),
      [
        'routers[0].daemon: Invalid option: expected one of "bird"|"frr"|"gobgp"',
        'routers[0].asNumber: Too small: expected number to be >=1',
      ],
    );
    assert.deepEqual(problems({ ...base, links: [{ a: 'node1', b: 'tor', bogus: 1 }] }), [
      'links[0]: Unrecognized key: "bogus"',
    ]);
    assert.deepEqual(problems({ ...base, links: [{ lan: 'l' }] }), ['links[0].members: required: at least one member']);
    assert.deepEqual(problems({ ...base, links: [{ a: 'node1', lan: 'l', members: { node1: [] } }] }), [
      'links[0]: must be either a point-to-point link (a, b) or a lan (lan, members)',
    ]);
    assert.deepEqual(problems({ ...base, links: [{ a: 'node1', b: 'tor', addresses: { a: '10.0.0.1' } }] }), [
      'links[0].addresses.a[0]: must be an address with a prefix length (CIDR)',
    ]);
    assert.deepEqual(
      problems({
        ...base,
        routers: [{ ...base.routers[0], peers: [{ address: '10.0.0.2', asNumber: 1, password: 'a b' }] }],
      }),
      ['routers[0].peers[0].password: must be printable ASCII without spaces, quotes or backslashes'],
    );
    assert.deepEqual(problems({ ...base, name: 'Has.Dots' }), [
      'name: must be lowercase letters, digits and "-", starting and ending with a letter or digit',
    ]);
  });

  it('rejects a link from an endpoint to itself and duplicate peers', () => {
    assert.deepEqual(problems({ ...base, links: [{ a: 'node1', b: 'node1' }] }), [
      'links[0].b: must differ from a: both are "node1"',
    ]);
    const peers = [
      { address: 'fd00::1', asNumber: 1 },
      { address: 'fd00:0::1', asNumber: 2 },
    ];
    assert.deepEqual(problems({ ...base, routers: [{ ...base.routers[0], peers }] }), [
      'routers[0].peers[1].address: duplicate peer fd00:0::1',
    ]);
  });

  it('reports YAML syntax errors as LAB_INVALID', () => {
    assert.throws(
      () => parseTopologyYaml('name: [unclosed', 'topology "bad.yaml"'),
      (e) => isCaracalError(e, 'LAB_INVALID') && /topology "bad\.yaml": not valid YAML/.test(e.message),
    );
  });
});

describe('address helpers', () => {
  it('ipValue() reads IPv4, IPv6 and IPv4-mapped IPv6', () => {
    assert.deepEqual(ipValue('10.0.0.1'), { family: 4, value: 0x0a000001n });
    assert.deepEqual(ipValue('::1'), { family: 6, value: 1n });
    assert.deepEqual(ipValue('fd00::1'), { family: 6, value: (0xfd00n << 112n) | 1n });
    assert.deepEqual(ipValue('::ffff:10.0.0.1'), { family: 6, value: (0xffffn << 32n) | 0x0a000001n });
    assert.equal(ipValue('10.0.0.256'), undefined);
  });

  it('parseCidr() and isNetworkCidr() check prefix lengths and host bits', () => {
    assert.equal(parseCidr('10.0.0.0/33'), undefined);
    assert.equal(parseCidr('10.0.0.0'), undefined);
    assert.equal(isNetworkCidr(parseCidr('10.0.0.0/8')!), true);
    assert.equal(isNetworkCidr(parseCidr('10.0.0.1/8')!), false);
    assert.equal(isNetworkCidr(parseCidr('fd00::/64')!), true);
    assert.equal(isNetworkCidr(parseCidr('0.0.0.0/0')!), true);
  });

  it('formatPath() writes zod paths the way a person reads YAML', () => {
    assert.equal(formatPath(['links', 2, 'b']), 'links[2].b');
    assert.equal(formatPath(['pods', 0, 'ip', 1]), 'pods[0].ip[1]');
    assert.equal(formatPath([]), '(top level)');
  });
});

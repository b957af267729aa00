import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import {
  CRD_HEADER,
  CRDS_DIR,
  crdFileName,
  crdFor,
  type JsonSchema,
  main,
  renderCrdsYaml,
  staleCrdFiles,
  toStructural,
} from './gen-crds.js';
import type { KindInfo } from './kind.js';
import { KINDS, type KindName } from './kinds.js';
import { emptyBlockSpec, SAMPLES, type Sample, withSpec } from './testdata/samples.js';
import { safeParseResource } from './validate.js';

const OURS = (Object.values(KINDS) as KindInfo[]).filter((k) => !k.native);
const schemaOf = (key: string): JsonSchema => {
  const kind = OURS.find((k) => k.key === key);
  assert.ok(kind, key);
  const v = crdFor(kind).spec.versions[0];
  assert.ok(v);
  return v.schema.openAPIV3Schema;
};

// ---------------------------------------------------------------------------------------------------------
// A small checker for the subset of OpenAPI v3 that structural CRD schemas use, and Kubernetes' defaulting.

const isPlain = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Violations of `schema` by `value` (empty when valid). Unknown fields are pruned by Kubernetes, not refused. */
function violations(schema: JsonSchema, value: unknown, path = '$'): string[] {
  const out: string[] = [];
  if (value === null) return schema.nullable === true ? [] : [`${path}: null is not allowed`];
  if (schema['x-kubernetes-int-or-string'] === true) {
    return Number.isInteger(value) || typeof value === 'string' ? [] : [`${path}: must be an integer or a string`];
  }
  switch (schema.type) {
    case 'object': {
      if (!isPlain(value)) return [`${path}: must be an object`];
      for (const r of (schema.required as string[] | undefined) ?? [])
        if (!(r in value)) out.push(`${path}.${r}: required`);
      const props = (schema.properties as Record<string, JsonSchema> | undefined) ?? {};
      for (const [k, v] of Object.entries(value)) {
        const sub =
          props[k] ?? (isPlain(schema.additionalProperties) ? (schema.additionalProperties as JsonSchema) : undefined);
        if (sub) out.push(...violations(sub, v, `${path}.${k}`));
      }
      break;
    }
    case 'array': {
      if (!Array.isArray(value)) return [`${path}: must be an array`];
      if (typeof schema.minItems === 'number' && value.length < schema.minItems)
        out.push(`${path}: fewer than ${schema.minItems} items`);
      if (typeof schema.maxItems === 'number' && value.length > schema.maxItems)
        out.push(`${path}: more than ${schema.maxItems} items`);
      value.forEach((item, i) => {
        out.push(...violations(schema.items as JsonSchema, item, `${path}[${i}]`));
      });
      break;
    }
    case 'string': {
      if (typeof value !== 'string') return [`${path}: must be a string`];
      if (typeof schema.minLength === 'number' && value.length < schema.minLength)
        out.push(`${path}: shorter than ${schema.minLength}`);
      if (typeof schema.maxLength === 'number' && value.length > schema.maxLength)
        out.push(`${path}: longer than ${schema.maxLength}`);
      if (typeof schema.pattern === 'string' && !new RegExp(schema.pattern).test(value))
        out.push(`${path}: does not match ${schema.pattern}`);
      if (schema.format === 'date-time' && Number.isNaN(Date.parse(value))) out.push(`${path}: not a date-time`);
      break;
    }
    case 'integer':
    case 'number': {
      if (typeof value !== 'number' || (schema.type === 'integer' && !Number.isInteger(value)))
        return [`${path}: must be an ${schema.type}`];
      if (typeof schema.minimum === 'number' && value < schema.minimum) out.push(`${path}: below ${schema.minimum}`);
      if (typeof schema.maximum === 'number' && value > schema.maximum) out.push(`${path}: above ${schema.maximum}`);
      break;
    }
    case 'boolean':
      if (typeof value !== 'boolean') return [`${path}: must be a boolean`];
      break;
    default:
      if (schema['x-kubernetes-preserve-unknown-fields'] !== true) out.push(`${path}: schema has no type`);
  }
  if (Array.isArray(schema.enum) && !schema.enum.some((e) => JSON.stringify(e) === JSON.stringify(value))) {
    out.push(`${path}: not one of ${JSON.stringify(schema.enum)}`);
  }
  return out;
}

/** Kubernetes structural defaulting: fill absent properties from `default`, then recurse. */
function applyDefaults(schema: JsonSchema, value: unknown): unknown {
  if (isPlain(value) && schema.type === 'object') {
    const out: Record<string, unknown> = { ...value };
    for (const [k, sub] of Object.entries((schema.properties as Record<string, JsonSchema> | undefined) ?? {})) {
      if (!(k in out) && sub.default !== undefined) out[k] = structuredClone(sub.default);
      if (k in out) out[k] = applyDefaults(sub, out[k]);
    }
    return out;
  }
  if (Array.isArray(value) && schema.type === 'array')
    return value.map((v) => applyDefaults(schema.items as JsonSchema, v));
  return value;
}

/** Every node of a schema with its path. */
function* walk(node: JsonSchema, path: string): Generator<[string, JsonSchema]> {
  yield [path, node];
  for (const [k, v] of Object.entries((node.properties as Record<string, JsonSchema> | undefined) ?? {}))
    yield* walk(v, `${path}.${k}`);
  if (isPlain(node.items)) yield* walk(node.items as JsonSchema, `${path}[]`);
  if (isPlain(node.additionalProperties)) yield* walk(node.additionalProperties as JsonSchema, `${path}{}`);
}

// ---------------------------------------------------------------------------------------------------------

describe('crds/', () => {
  it('is up to date with the schemas in model/', () => {
    const stale = staleCrdFiles(CRDS_DIR);
    assert.deepEqual(
      stale,
      [],
      `crds/ is stale: ${stale.map((s) => `crds/${s.file} (${s.state})`).join(', ')}; regenerate with: npm run gen:crds`,
    );
  });

  it('holds one file per kind of ours, each with the do-not-edit header, and none for native kinds', () => {
    const files = [...renderCrdsYaml().keys()];
    assert.deepEqual(
      files,
      OURS.map((k) => `crd.caracal.dev_${k.plural}.yaml`),
    );
    for (const f of files) assert.ok(readFileSync(join(CRDS_DIR, f), 'utf8').startsWith(CRD_HEADER), f);
  });

  it('parses back to exactly what `crdFor()` returns', () => {
    for (const k of OURS)
      assert.deepEqual(parseYaml(readFileSync(join(CRDS_DIR, crdFileName(k)), 'utf8')), crdFor(k), k.key);
  });
});

describe('`crdFor()`', () => {
  it('names, scopes and versions each CRD from the registry', () => {
    const ippool = crdFor(KINDS.IPPool);
    assert.equal(ippool.metadata.name, 'ippools.crd.caracal.dev');
    assert.equal(ippool.spec.group, 'crd.caracal.dev');
    assert.deepEqual(ippool.spec.names, {
      kind: 'IPPool',
      listKind: 'IPPoolList',
      plural: 'ippools',
      singular: 'ippool',
    });
    assert.equal(ippool.spec.scope, 'Cluster');
    assert.deepEqual(
      ippool.spec.versions.map((v) => [v.name, v.served, v.storage]),
      [['v1', true, true]],
    );
    const wep = crdFor(KINDS.WorkloadEndpoint);
    assert.equal(wep.spec.scope, 'Namespaced');
    assert.deepEqual(wep.spec.names.shortNames, ['wep']);
  });

  it('adds the status subresource only to kinds with a status', () => {
    const withStatus = OURS.filter((k) => crdFor(k).spec.versions[0]?.subresources !== undefined).map((k) => k.key);
    assert.deepEqual(withStatus, ['IPPool']);
  });

  it('refuses a native kind', () => {
    assert.throws(() => crdFor(KINDS.Pod), /native Kubernetes kind/);
  });

  it('gives printer columns whose JSON paths exist in the schema, and an Age column', () => {
    for (const k of OURS) {
      const v = crdFor(k).spec.versions[0];
      assert.ok(v);
      assert.equal(v.additionalPrinterColumns.at(-1)?.name, 'Age');
      for (const c of v.additionalPrinterColumns.slice(0, -1)) {
        let node: JsonSchema | undefined = v.schema.openAPIV3Schema;
        for (const seg of c.jsonPath.split('.').slice(1))
          node = (node?.properties as Record<string, JsonSchema> | undefined)?.[seg];
        assert.ok(node, `${k.key}: ${c.jsonPath}`);
        const want: string =
          c.type === 'integer'
            ? 'integer'
            : c.type === 'boolean'
              ? 'boolean'
              : node.type === 'array'
                ? 'array'
                : 'string';
        assert.equal(node.type, want, `${k.key}: ${c.jsonPath}`);
      }
    }
  });

  it('carries the CEL rules given through .meta(), including cidr immutability', () => {
    const cidr = ((schemaOf('IPPool').properties as JsonSchema).spec as JsonSchema).properties as Record<
      string,
      JsonSchema
    >;
    assert.deepEqual(cidr.cidr?.['x-kubernetes-validations'], [
      { rule: 'self == oldSelf', message: 'cidr is immutable' },
    ]);
    assert.ok(Array.isArray(schemaOf('IPAMConfig')['x-kubernetes-validations']));
  });
});

describe('generated openAPIV3Schema', () => {
  for (const k of OURS) {
    it(`${k.key}: is structural (a type on every node, no $ref, no unions, no additionalProperties beside properties)`, () => {
      const root = schemaOf(k.key);
      assert.equal(root.type, 'object');
      assert.deepEqual((root.properties as JsonSchema).metadata, { type: 'object' });
      for (const [path, node] of walk(root, '$')) {
        const typed =
          typeof node.type === 'string' ||
          node['x-kubernetes-int-or-string'] === true ||
          node['x-kubernetes-preserve-unknown-fields'] === true;
        assert.ok(typed, `${path}: no type`);
        for (const banned of [
          '$ref',
          '$schema',
          'anyOf',
          'oneOf',
          'allOf',
          'not',
          'const',
          'uniqueItems',
          'propertyNames',
        ]) {
          assert.ok(!(banned in node), `${path}: has ${banned}`);
        }
        assert.ok(
          !(node.properties !== undefined && node.additionalProperties !== undefined),
          `${path}: properties and additionalProperties`,
        );
        if (node.type === 'array') assert.ok(isPlain(node.items), `${path}: array without items`);
      }
    });

    it(`${k.key}: describes every field (kubectl explain)`, () => {
      for (const [path, node] of walk(schemaOf(k.key), '$')) {
        if (path === '$.metadata' || path.endsWith('[]') || path.endsWith('{}')) continue;
        assert.ok(typeof node.description === 'string' && node.description.length > 0, `${path}: no description`);
      }
    });

    it(`${k.key}: every default satisfies its own schema`, () => {
      for (const [path, node] of walk(schemaOf(k.key), '$')) {
        if (node.default !== undefined) assert.deepEqual(violations(node, node.default, path), []);
      }
    });
  }
});

describe('zod and the CRD schema', () => {
  /** Where zod and the API server's schema check may disagree on purpose: CEL or zod-only refinements. */
  type Case = { kind: KindName; why: string; value: Sample; zod: boolean; crd: boolean };
  const pool = (spec: Record<string, unknown>) => withSpec('IPPool', spec);
  const cases: Case[] = [
    ...OURS.map(
      (k): Case => ({
        kind: k.key as KindName,
        why: 'sample',
        value: SAMPLES[k.key as KindName](),
        zod: true,
        crd: true,
      }),
    ),
    {
      kind: 'IPPool',
      why: 'full pool',
      value: pool({
        cidr: 'fd00::/48',
        blockSize: 122,
        vxlanMode: 'Always',
        natOutgoing: true,
        allowedUses: ['LoadBalancer'],
      }),
      zod: true,
      crd: true,
    },
    {
      kind: 'BGPPeer',
      why: 'selector peering',
      value: withSpec('BGPPeer', { peerIP: undefined, asNumber: undefined, peerSelector: 'has(rr)' }),
      zod: true,
      crd: true,
    },
    { kind: 'IPPool', why: 'enum', value: pool({ ipipMode: 'Sometimes' }), zod: false, crd: false },
    { kind: 'IPPool', why: 'type', value: pool({ natOutgoing: 'yes' }), zod: false, crd: false },
    { kind: 'IPPool', why: 'blockSize above every family', value: pool({ blockSize: 129 }), zod: false, crd: false },
    { kind: 'IPPool', why: 'required cidr', value: pool({ cidr: undefined }), zod: false, crd: false },
    {
      kind: 'IPAMBlock',
      why: 'negative ordinal',
      value: withSpec('IPAMBlock', { unallocated: [-1] }),
      zod: false,
      crd: false,
    },
    {
      kind: 'IPAMBlock',
      why: 'affinity pattern',
      value: withSpec('IPAMBlock', { affinity: 'node:x' }),
      zod: false,
      crd: false,
    },
    {
      kind: 'IPAMBlock',
      why: 'sequence number pattern',
      value: withSpec('IPAMBlock', { sequenceNumber: '01' }),
      zod: false,
      crd: false,
    },
    {
      kind: 'BlockAffinity',
      why: 'required state',
      value: withSpec('BlockAffinity', { state: undefined }),
      zod: false,
      crd: false,
    },
    { kind: 'BGPPeer', why: 'AS 0', value: withSpec('BGPPeer', { asNumber: 0 }), zod: false, crd: false },
    {
      kind: 'IPAMConfig',
      why: 'maxBlocksPerHost above the range',
      value: withSpec('IPAMConfig', { maxBlocksPerHost: 1_000_001, strictAffinity: true }),
      zod: false,
      crd: false,
    },
    {
      kind: 'WorkloadEndpoint',
      why: 'interface name length',
      value: withSpec('WorkloadEndpoint', { interfaceName: 'x'.repeat(16) }),
      zod: false,
      crd: false,
    },
    {
      kind: 'Node',
      why: 'MAC pattern',
      value: withSpec('Node', { ipv4VXLANTunnelAddr: '10.0.0.1', vxlanTunnelMACAddr: 'nope' }),
      zod: false,
      crd: false,
    },
    // zod-only: the CRD cannot parse addresses (CEL's IP library needs Kubernetes 1.31)
    { kind: 'IPPool', why: 'host bits (zod only)', value: pool({ cidr: '10.244.0.1/16' }), zod: false, crd: true },
    {
      kind: 'IPAMBlock',
      why: 'allocations length (zod only)',
      value: withSpec('IPAMBlock', { allocations: [null] }),
      zod: false,
      crd: true,
    },
    {
      kind: 'BGPPeer',
      why: 'peerIP syntax (zod only)',
      value: withSpec('BGPPeer', { peerIP: 'tor-1' }),
      zod: false,
      crd: true,
    },
    // CEL on the CRD: the API server refuses these too, our checker does not run CEL
    { kind: 'IPPool', why: 'IPv4 blockSize 64 (CEL)', value: pool({ blockSize: 64 }), zod: false, crd: true },
    {
      kind: 'IPPool',
      why: 'IPIP and VXLAN (CEL)',
      value: pool({ ipipMode: 'Always', vxlanMode: 'Always' }),
      zod: false,
      crd: true,
    },
    { kind: 'BGPPeer', why: 'no peer (CEL)', value: withSpec('BGPPeer', { peerIP: undefined }), zod: false, crd: true },
    {
      kind: 'IPAMConfig',
      why: 'singleton name (CEL)',
      value: { ...SAMPLES.IPAMConfig(), metadata: { name: 'x' } },
      zod: false,
      crd: true,
    },
  ];

  for (const c of cases) {
    it(`${c.kind} (${c.why}): zod ${c.zod ? 'accepts' : 'rejects'}, the CRD schema ${c.crd ? 'accepts' : 'rejects'}`, () => {
      const r = safeParseResource(c.kind, c.value);
      assert.equal(r.ok, c.zod, r.ok ? 'zod accepted' : r.error.message);
      const schema = schemaOf(c.kind);
      const v = violations(schema, applyDefaults(schema, c.value));
      assert.equal(v.length === 0, c.crd, v.join('; ') || 'the CRD schema accepted');
    });
  }

  it('API-server defaulting of each sample gives what zod gives (except the family-dependent blockSize)', () => {
    for (const k of OURS) {
      const sample = SAMPLES[k.key as KindName]();
      const parsed = safeParseResource(k.key as KindName, sample);
      assert.ok(parsed.ok);
      const defaulted = applyDefaults(schemaOf(k.key), sample) as Sample;
      const expected = structuredClone(parsed.value) as Sample;
      if (k.key === 'IPPool') delete expected.spec?.blockSize;
      assert.deepEqual(defaulted, expected, k.key);
    }
  });

  it('a full block of 4096 addresses fits the CRD limits', () => {
    const spec = emptyBlockSpec('10.240.0.0/20', 4096);
    const obj = { ...withSpec('IPAMBlock', spec), metadata: { name: '10-240-0-0-20' } };
    assert.ok(safeParseResource('IPAMBlock', obj).ok);
    assert.deepEqual(violations(schemaOf('IPAMBlock'), obj), []);
  });
});

describe('`toStructural()`', () => {
  const conv = (s: z.ZodType) => toStructural(z.toJSONSchema(s, { io: 'input', target: 'openapi-3.0' }));

  it('turns integer-or-string unions into x-kubernetes-int-or-string', () => {
    assert.deepEqual(conv(z.union([z.number().int(), z.string()]).describe('port')), {
      description: 'port',
      'x-kubernetes-int-or-string': true,
    });
  });

  it('keeps maps as typed additionalProperties and loose objects as preserve-unknown-fields', () => {
    assert.deepEqual(conv(z.record(z.string(), z.number().int())), {
      type: 'object',
      additionalProperties: { type: 'integer' },
    });
    assert.deepEqual(conv(z.looseObject({ a: z.string() })), {
      type: 'object',
      properties: { a: { type: 'string' } },
      required: ['a'],
      'x-kubernetes-preserve-unknown-fields': true,
    });
    assert.deepEqual(conv(z.unknown()), { 'x-kubernetes-preserve-unknown-fields': true });
  });

  it('refuses other unions and recursive schemas, naming the path', () => {
    assert.throws(
      () => conv(z.object({ a: z.union([z.string(), z.boolean()]) })),
      /Cannot generate CRD schema at a: unions are not structural/,
    );
    const Tree: z.ZodType = z.object({
      get kids() {
        return z.array(Tree);
      },
    });
    assert.throws(() => conv(Tree), /\$ref is not structural/);
  });

  it('refuses keywords Kubernetes does not know', () => {
    assert.throws(
      () => toStructural({ type: 'string', contentMediaType: 'text/plain' }),
      /keyword contentMediaType is not supported/,
    );
  });
});

describe('gen-crds `main()`', () => {
  it('with --check exits 1 and lists missing, differing and extra files with the fix; without it, brings crds/ up to date', () => {
    const dir = mkdtempSync(join(tmpdir(), 'caracal-crds-'));
    try {
      const files = [...renderCrdsYaml().keys()];
      writeFileSync(join(dir, files[0]!), 'stale');
      writeFileSync(join(dir, 'crd.caracal.dev_gone.yaml'), 'old');
      writeFileSync(join(dir, 'README.md'), 'not ours');
      const lines: string[] = [];
      assert.equal(
        main(['--check'], dir, (l) => lines.push(l)),
        1,
      );
      assert.match(lines[0]!, /^crds\/ is stale \(\d+ files\); run: npm run gen:crds$/);
      assert.ok(lines.includes(`  differs crds/${files[0]}`));
      assert.ok(lines.includes(`  missing crds/${files[1]}`));
      assert.ok(lines.includes('  extra   crds/crd.caracal.dev_gone.yaml'));
      assert.ok(!lines.some((l) => l.includes('README')));

      assert.equal(
        main([], dir, () => {}),
        0,
      );
      assert.deepEqual(staleCrdFiles(dir), []);
      assert.equal(readFileSync(join(dir, 'README.md'), 'utf8'), 'not ours');
      assert.equal(
        main(['--check'], dir, () => {}),
        0,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

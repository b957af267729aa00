import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonPatch, mergePatch } from './patch.js';
import { ApiError } from './status.js';

const rejects = (fn: () => unknown, re: RegExp) =>
  assert.throws(fn, (e: unknown) => e instanceof ApiError && re.test(e.status.message ?? ''));

describe('jsonPatch()', () => {
  it('applies add, remove, replace, move, copy and test (RFC 6902 §4)', () => {
    const doc = { a: { b: 1 }, l: [1, 2] };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/a/c', value: 2 },
      { op: 'replace', path: '/a/b', value: 3 },
      { op: 'add', path: '/l/-', value: 3 },
      { op: 'remove', path: '/l/0' },
      { op: 'copy', from: '/a/c', path: '/d' },
      { op: 'move', from: '/d', path: '/e' },
      { op: 'test', path: '/e', value: 2 },
    ]);
    assert.deepEqual(out, { a: { b: 3, c: 2 }, l: [2, 3], e: 2 });
    assert.deepEqual(doc, { a: { b: 1 }, l: [1, 2] }, 'the target is not changed');
  });

  it('treats inherited names and non-canonical indexes as missing paths, never as the prototype', () => {
    rejects(() => jsonPatch({ a: {} }, [{ op: 'replace', path: '/a/constructor', value: 1 }]), /missing path/);
    rejects(() => jsonPatch({ a: {} }, [{ op: 'remove', path: '/a/toString' }]), /missing path/);
    rejects(() => jsonPatch({ l: [1, 2] }, [{ op: 'replace', path: '/l/01', value: 1 }]), /missing path/);
    const out = jsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<
      string,
      unknown
    >;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['__proto__']);
  });
});

describe('mergePatch()', () => {
  it('merges objects, deletes on null and replaces lists (RFC 7386)', () => {
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, l: [1] }, { a: null, b: { c: 4 }, l: [2] }), {
      b: { c: 4, d: 3 },
      l: [2],
    });
  });

  it('keeps a "__proto__" key of the patch as a key', () => {
    const out = mergePatch({}, JSON.parse('{"__proto__": {"polluted": true}}')) as Record<string, unknown>;
    assert.equal(Object.getPrototypeOf(out), Object.prototype);
    assert.deepEqual(Object.keys(out), ['__proto__']);
  });
});

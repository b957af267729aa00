import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CaracalError, ErrorCodes, isCaracalError } from './errors.js';

describe('CaracalError', () => {
  it('`isCaracalError()` recognises the brand, and the code when asked', () => {
    const e = new CaracalError(ErrorCodes.Conflict, 'Cannot update IPPool "a": changed since revision 5');
    assert.equal(isCaracalError(e), true);
    assert.equal(isCaracalError(e, ErrorCodes.Conflict), true);
    assert.equal(isCaracalError(e, ErrorCodes.NotFound), false);
    assert.equal(isCaracalError(new Error('x')), false);
    // A copy of the class from another module instance is still recognised: the brand is a global symbol.
    const foreign = Object.assign(new Error('y'), { code: 'DATASTORE_CONFLICT', [Symbol.for('caracal.error')]: true });
    assert.equal(isCaracalError(foreign, ErrorCodes.Conflict), true);
  });
  it('`CaracalError` keeps the cause and details', () => {
    const cause = new Error('socket hang up');
    const e = new CaracalError(ErrorCodes.Unavailable, 'Cannot reach etcd', { cause, details: { endpoint: 'x' } });
    assert.equal(e.cause, cause);
    assert.deepEqual(e.details, { endpoint: 'x' });
  });
  it('every error code is catalogued in docs/errors.md', () => {
    const doc = readFileSync(new URL('../docs/errors.md', import.meta.url), 'utf8');
    const missing = Object.values(ErrorCodes).filter((c) => !doc.includes(`\`${c}\``));
    assert.deepEqual(missing, []);
  });
});

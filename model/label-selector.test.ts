import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isCaracalError } from '../common/errors.js';
import { matchesLabels, parseLabelSelector } from './label-selector.js';

const selects = (selector: string, labels: Record<string, string>) =>
  matchesLabels(parseLabelSelector(selector), labels);

describe('parseLabelSelector()', () => {
  it('reads =, ==, !=, in, notin, exists and !exists, ANDed', () => {
    assert.equal(selects('app=web,tier in (a, b)', { app: 'web', tier: 'b' }), true);
    assert.equal(selects('app==web,tier notin (a,b)', { app: 'web', tier: 'b' }), false);
    assert.equal(selects('app!=web', {}), true, 'apimachinery: != holds when the key is absent');
    assert.equal(selects('app,!legacy', { app: 'x' }), true);
    assert.equal(selects('app,!legacy', { app: 'x', legacy: '' }), false);
    assert.equal(selects('', { anything: 'x' }), true, 'the empty selector selects everything');
  });

  it('refuses an in/notin with an empty value set, as apimachinery does', () => {
    for (const text of ['tier in ()', 'tier notin ( )']) {
      assert.throws(
        () => parseLabelSelector(text),
        (e: unknown) =>
          isCaracalError(e, ErrorCodes.InvalidResource) &&
          e.details.field === 'labelSelector' &&
          /needs at least one value/.test(e.message),
        text,
      );
    }
  });

  it('names the requirement it cannot understand', () => {
    assert.throws(() => parseLabelSelector('app=web,=x'), /cannot understand requirement "=x"/);
    assert.throws(() => parseLabelSelector('app=web,,b'), /empty requirement/);
  });
});

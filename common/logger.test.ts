import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isCaracalError } from './errors.js';
import { logLevelFromEnv } from './logger.js';

describe('logLevelFromEnv()', () => {
  it('takes CARACAL_LOG_LEVEL, defaulting to info, or silent under the test runner', () => {
    assert.equal(logLevelFromEnv({ CARACAL_LOG_LEVEL: 'debug' }), 'debug');
    assert.equal(logLevelFromEnv({}), 'info');
    assert.equal(logLevelFromEnv({ NODE_TEST_CONTEXT: 'child-v8' }), 'silent');
  });

  it('refuses an unknown level with INVALID_CONFIG naming the variable and its value', () => {
    assert.throws(
      () => logLevelFromEnv({ CARACAL_LOG_LEVEL: 'verbose' }),
      (e: unknown) =>
        isCaracalError(e, ErrorCodes.InvalidConfig) &&
        /CARACAL_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent: current value is "verbose"/.test(
          e.message,
        ),
    );
  });
});

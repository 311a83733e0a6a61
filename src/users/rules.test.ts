import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  checkEmail,
  checkNewUser,
  checkSettings,
  checkTokenRequest,
  checkUserChange,
  PasswordTooShort,
  updateResemblesEmail,
} from './rules.js';

const status = (fn: () => void) => {
  try {
    fn();
    return 0;
  } catch (error) {
    return (error as { status: number }).status;
  }
};

describe('useradm rules', () => {
  it('accepts ordinary and single-label email addresses and refuses broken ones', () => {
    for (const ok of ['user@acme.com', 'admin@localhost', 'a.b+c@sub.example.org', 'x@[127.0.0.1]']) checkEmail(ok);
    for (const bad of ['', 'no-at-sign', '@acme.com', 'user@', 'us er@acme.com', 'ü@acme.com', 'a..b@acme.com']) {
      assert.equal(
        status(() => checkEmail(bad)),
        400,
        bad,
      );
    }
    assert.equal(
      status(() => checkEmail(`${'a'.repeat(250)}@acme.com`)),
      400,
    );
  });

  it('answers 422 for a short password and 400 for a malformed one, as Mender does', () => {
    assert.throws(() => checkNewUser({ email: 'u@acme.com', password: 'short' }), PasswordTooShort);
    assert.equal(
      status(() => checkNewUser({ email: 'u@acme.com', password: '' })),
      400,
    );
    assert.equal(
      status(() => checkNewUser({ email: 'u@acme.com', password: 'pässwörd-long' })),
      400,
    );
    assert.equal(
      status(() => checkNewUser({ email: 'u@acme.com', password: 'x'.repeat(257) })),
      400,
    );
    assert.equal(
      status(() => checkNewUser({ email: 'u@acme.com', password: 'x'.repeat(8) })),
      0,
    );
  });

  it('refuses a password contained in the email address', () => {
    assert.equal(
      status(() => checkNewUser({ email: 'johnsmith1@acme.com', password: 'JohnSmith1' })),
      422,
    );
    assert.equal(updateResemblesEmail('johnsmith1@acme.com', { password: 'johnsmith1' }), true);
    assert.equal(updateResemblesEmail('a@acme.com', { password: 'mynewpass', email: 'mynewpass@acme.com' }), true);
    assert.equal(
      updateResemblesEmail('a@acme.com', { email: 'secret12@acme.com', current_password: 'secret12' }),
      true,
    );
    assert.equal(updateResemblesEmail('a@acme.com', { password: 'unrelated-pass' }), false);
  });

  it('needs something to change in a v1 update, not in a v2 one', () => {
    assert.equal(
      status(() => checkUserChange({}, true)),
      400,
    );
    assert.equal(
      status(() => checkUserChange({ current_password: 'x' }, true)),
      400,
    );
    assert.equal(
      status(() => checkUserChange({}, false)),
      0,
    );
    assert.equal(
      status(() => checkUserChange({ password: 'short' }, false)),
      422,
    );
    assert.equal(
      status(() => checkUserChange({ email: 'bad' }, true)),
      400,
    );
  });

  it('takes only JSON objects of bounded size as settings', () => {
    checkSettings({ theme: 'dark', columns: [1, 2] });
    for (const bad of [null, [], 'text', 3])
      assert.equal(
        status(() => checkSettings(bad)),
        400,
      );
    assert.equal(
      status(() => checkSettings({ ['k'.repeat(129)]: 1 })),
      400,
    );
    assert.equal(
      status(() => checkSettings({ k: 'v'.repeat(4097) })),
      400,
    );
    const many = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`k${i}`, i]));
    assert.equal(
      status(() => checkSettings(many)),
      400,
    );
  });

  it('limits a PAT to a name and at most one year', () => {
    checkTokenRequest({ name: 'ci', expires_in: 31_536_000 });
    checkTokenRequest({ name: 'forever' });
    assert.equal(
      status(() => checkTokenRequest({ name: '' })),
      400,
    );
    assert.equal(
      status(() => checkTokenRequest({ name: 'ci', expires_in: 31_536_001 })),
      400,
    );
    assert.equal(
      status(() => checkTokenRequest({ name: 'ci', expires_in: -1 })),
      400,
    );
  });
});

// The DDI confirmation flow through inject, on both dialects, to the letter of the DDI spec: with the tenant's
// auto-confirm off an action waits (the poll links confirmationBase, not deploymentBase) until the target confirms
// it through confirmationBase/{id}/feedback; a deny ends it (aborted, not a failure); a target's own
// auto-confirmation confirms current and future actions until it deactivates it. SWUpdate has no confirmation
// support (its suricatta never reads confirmationBase), so these are inject tests.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects } from '../support/app.js';
import { statistics } from '../support/deployment-fixtures.js';
import { type DdiBench, ddiBench, feedback } from './support.js';

for (const dialect of dialects)
  describe(`DDI confirmation flow (${dialect})`, () => {
    let b: DdiBench;
    before(async () => {
      b = await ddiBench(dialect);
    });
    after(() => b.close());
    const confirm = (action: string, body: unknown) => b.ddi('POST', `/confirmationBase/${action}/feedback`, body);

    it('auto-confirm is the default: no action waits, and targets cannot switch it off', async () => {
      assert.equal((await b.mgmt('GET', '/api/ddi/v1/settings')).json().auto_confirm, true);
      await b.deploy('k-0');
      assert.ok(await b.pollLink('deploymentBase'));
      assert.equal(await b.pollLink('confirmationBase'), undefined);
      const base = (await b.ddi('GET', '/confirmationBase')).json();
      assert.equal(base.autoConfirm.active, true);
      assert.deepEqual(base._links, {});
      assert.equal((await b.ddi('POST', '/confirmationBase/deactivateAutoConfirm')).statusCode, 409);
      const action = (await b.pollLink('deploymentBase')) as string;
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'success'))).statusCode,
        200,
      );
    });

    it('with auto-confirm off an action waits until the target confirms it', async () => {
      const set = await b.mgmt('PUT', '/api/ddi/v1/settings', { auto_confirm: false });
      assert.equal(set.statusCode, 200, set.body);
      assert.equal(set.json().auto_confirm, false);
      assert.equal((await b.mgmt('PUT', '/api/ddi/v1/settings', { auto_confirm: 'no' })).statusCode, 400);
      const id = await b.deploy('k-1');
      const action = await b.pollLink('confirmationBase');
      assert.ok(action);
      assert.equal(await b.pollLink('deploymentBase'), undefined);
      assert.equal((await b.ddi('GET', `/deploymentBase/${action}`)).statusCode, 404);
      const base = (await b.ddi('GET', '/confirmationBase')).json();
      assert.deepEqual(base.autoConfirm, { active: false });
      assert.match(base._links.activateAutoConfirm.href, /\/confirmationBase\/activateAutoConfirm$/);
      assert.match(base._links.confirmationBase.href, new RegExp(`/confirmationBase/${action}\\?c=1$`));
      const waiting = await b.ddi('GET', `/confirmationBase/${action}?actionHistory=5`);
      assert.equal(waiting.statusCode, 200, waiting.body);
      const body = waiting.json();
      assert.equal(body.id, action);
      assert.deepEqual([body.confirmation.download, body.confirmation.update], ['forced', 'forced']);
      assert.equal(body.confirmation.chunks[0].version, 'k-1');
      assert.equal(body.actionHistory.status, 'WAIT_FOR_CONFIRMATION');
      // Still waiting after more polls: nothing proceeds by itself.
      assert.equal(await b.pollLink('confirmationBase'), action);
      assert.equal(await b.ddStatus(id), 'pending');
      // Malformed confirmation feedback is a 400 and changes nothing.
      for (const bad of [
        {},
        { confirmation: 'maybe' },
        { confirmation: 'confirmed', details: 'x' },
        { confirmation: 'confirmed', code: 'x' },
      ])
        assert.equal((await confirm(action, bad)).statusCode, 400, JSON.stringify(bad));
      assert.equal(await b.pollLink('confirmationBase'), action);
      const ok = await confirm(action, { confirmation: 'confirmed', code: 200, details: ['user said yes'] });
      assert.equal(ok.statusCode, 200, ok.body);
      assert.equal(await b.pollLink('confirmationBase'), undefined);
      assert.equal(await b.pollLink('deploymentBase'), action);
      // Confirming again: the action no longer waits.
      assert.equal((await confirm(action, { confirmation: 'confirmed' })).statusCode, 404);
      const history = (await b.ddi('GET', `/deploymentBase/${action}?actionHistory=1`)).json().actionHistory;
      assert.match(history.messages[0], /ddi confirmation feedback confirmed \(code 200\): user said yes/);
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'success'))).statusCode,
        200,
      );
      assert.equal(await b.ddStatus(id), 'success');
    });

    it('a deny ends the action: aborted, not a failure; more feedback is gone', async () => {
      const id = await b.deploy('k-2', { retries: 1 });
      const action = (await b.pollLink('confirmationBase')) as string;
      const no = await confirm(action, { confirmation: 'denied', details: ['not now'] });
      assert.equal(no.statusCode, 200, no.body);
      assert.equal(await b.ddStatus(id), 'aborted');
      const stats = await statistics(b.t, b.token, id);
      assert.equal(stats.aborted, 1);
      assert.equal(stats.failure, 0);
      assert.equal(await b.pollLink('confirmationBase'), undefined);
      assert.equal(await b.pollLink('deploymentBase'), undefined);
      assert.equal((await confirm(action, { confirmation: 'confirmed' })).statusCode, 410);
    });

    it("the target's auto-confirmation confirms the waiting action and the next; deactivated, they wait again", async () => {
      const first = await b.deploy('k-3');
      const waiting = (await b.pollLink('confirmationBase')) as string;
      const on = await b.ddi('POST', '/confirmationBase/activateAutoConfirm', { initiator: 'owner', remark: 'fleet' });
      assert.equal(on.statusCode, 200, on.body);
      assert.equal((await b.ddi('POST', '/confirmationBase/activateAutoConfirm', { initiator: 5 })).statusCode, 400);
      const base = (await b.ddi('GET', '/confirmationBase')).json();
      assert.equal(base.autoConfirm.active, true);
      assert.equal(base.autoConfirm.initiator, 'owner');
      assert.equal(base.autoConfirm.remark, 'fleet');
      assert.equal(typeof base.autoConfirm.activatedAt, 'number');
      assert.match(base._links.deactivateAutoConfirm.href, /deactivateAutoConfirm$/);
      assert.equal(await b.pollLink('deploymentBase'), waiting);
      await b.ddi('POST', `/deploymentBase/${waiting}/feedback`, feedback('closed', 'success'));
      assert.equal(await b.ddStatus(first), 'success');
      const second = await b.deploy('k-4');
      const next = (await b.pollLink('deploymentBase')) as string;
      assert.ok(next);
      // Deactivated: the running action stays confirmed; the next deployment's action waits.
      assert.equal((await b.ddi('POST', '/confirmationBase/deactivateAutoConfirm')).statusCode, 200);
      assert.equal(await b.pollLink('deploymentBase'), next);
      await b.ddi('POST', `/deploymentBase/${next}/feedback`, feedback('closed', 'success'));
      assert.equal(await b.ddStatus(second), 'success');
      await b.deploy('k-5');
      assert.ok(await b.pollLink('confirmationBase'));
    });
  });

// hawkBit DDI cancellations to the letter of the spec's state machine mapping, on both dialects: CANCELED is the
// target's cancellation (the attempt ends aborted, never a failure, no retry); REJECTED of a cancellation is a
// warning and the action goes on until the target closes it; CLOSED with NONE ends like SUCCESS. SWUpdate only ever
// acknowledges a cancellation with closed/success (its cancel reply is fixed), so a rejection is injected here as
// the spec's device sends it; test/e2e/swupdate.test.ts has the real SWUpdate close a rejected cancellation.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dialects } from '../support/app.js';
import { statistics } from '../support/deployment-fixtures.js';
import { type DdiBench, ddiBench, feedback } from './support.js';

for (const dialect of dialects)
  describe(`DDI cancellations (${dialect})`, () => {
    let b: DdiBench;
    before(async () => {
      b = await ddiBench(dialect);
    });
    after(() => b.close());
    const abort = async (id: string) =>
      assert.equal(
        (await b.mgmt('PUT', `/api/management/v1/deployments/deployments/${id}/status`, { status: 'aborted' }))
          .statusCode,
        204,
      );

    it('canceled on deploymentBase: the target cancels, the attempt ends aborted with no retry', async () => {
      const id = await b.deploy('c-1', { retries: 2 });
      const action = await b.pollLink('deploymentBase');
      assert.ok(action);
      assert.equal((await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('proceeding'))).statusCode, 200);
      const res = await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('canceled', 'none', ['user']));
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(await b.ddStatus(id), 'aborted');
      const stats = await statistics(b.t, b.token, id);
      assert.equal(stats.aborted, 1);
      assert.equal(stats.failure, 0);
      // The action is closed as canceled: nothing offered any more, more feedback is gone.
      assert.equal(await b.pollLink('deploymentBase'), undefined);
      assert.equal(await b.pollLink('cancelAction'), undefined);
      const history = (await b.ddi('GET', `/deploymentBase/${action}?actionHistory=1`)).json().actionHistory;
      assert.equal(history.status, 'CANCELED');
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'success'))).statusCode,
        410,
      );
    });

    it('canceled on cancelAction confirms the operator abort: aborted, the action closes', async () => {
      const id = await b.deploy('c-2');
      const action = await b.pollLink('deploymentBase');
      await abort(id);
      assert.equal(await b.pollLink('cancelAction'), action);
      assert.equal((await b.ddi('POST', `/cancelAction/${action}/feedback`, feedback('canceled'))).statusCode, 200);
      assert.equal(await b.ddStatus(id), 'aborted');
      assert.equal(await b.pollLink('cancelAction'), undefined);
      assert.equal(await b.pollLink('deploymentBase'), undefined);
    });

    it('rejected on cancelAction: a warning, the action goes on, and closed/success ends success', async () => {
      const id = await b.deploy('c-3');
      const action = await b.pollLink('deploymentBase');
      assert.equal((await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('proceeding'))).statusCode, 200);
      await abort(id);
      assert.equal(await b.pollLink('cancelAction'), action);
      const reject = feedback('rejected', 'none', ['installing, cannot stop now']);
      assert.equal((await b.ddi('POST', `/cancelAction/${action}/feedback`, reject)).statusCode, 200);
      // The action is open again: the same action's deploymentBase, no cancellation.
      assert.equal(await b.pollLink('cancelAction'), undefined);
      assert.equal(await b.pollLink('deploymentBase'), action);
      assert.equal(await b.ddStatus(id), 'installing');
      const history = (await b.ddi('GET', `/deploymentBase/${action}?actionHistory=1`)).json().actionHistory;
      assert.equal(history.status, 'RUNNING');
      assert.match(history.messages[0], /warning: ddi cancel feedback rejected\/none: installing, cannot stop now/);
      const done = await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'success'));
      assert.equal(done.statusCode, 200, done.body);
      assert.equal(await b.ddStatus(id), 'success');
      assert.equal((await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, 'c-3');
      const stats = await statistics(b.t, b.token, id);
      assert.equal(stats.success, 1);
      assert.equal(stats.aborted, 0);
    });

    it('closed/failure on cancelAction is a refusal too (hawkBit: back to RUNNING); the target can then fail it', async () => {
      const id = await b.deploy('c-4');
      const action = await b.pollLink('deploymentBase');
      await abort(id);
      assert.equal(
        (await b.ddi('POST', `/cancelAction/${action}/feedback`, feedback('closed', 'failure'))).statusCode,
        200,
      );
      // Not started yet: the attempt goes back to pending, offered again.
      assert.equal(await b.ddStatus(id), 'pending');
      assert.equal(await b.pollLink('deploymentBase'), action);
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'failure'))).statusCode,
        200,
      );
      assert.equal(await b.ddStatus(id), 'failure');
    });

    it('closed/none ends success, like SUCCESS', async () => {
      const id = await b.deploy('c-5');
      const action = await b.pollLink('deploymentBase');
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'none'))).statusCode,
        200,
      );
      assert.equal(await b.ddStatus(id), 'success');
      assert.equal((await b.mgmt('GET', '/api/ddi/v1/targets/dev-1')).json().artifact_name, 'c-5');
    });

    it('rejected on deploymentBase is a warning that changes nothing', async () => {
      const id = await b.deploy('c-6');
      const action = await b.pollLink('deploymentBase');
      assert.equal((await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('download'))).statusCode, 200);
      assert.equal((await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('rejected'))).statusCode, 200);
      assert.equal(await b.ddStatus(id), 'downloading');
      assert.equal(await b.pollLink('deploymentBase'), action);
      assert.equal(
        (await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'success'))).statusCode,
        200,
      );
    });
  });

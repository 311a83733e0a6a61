// Issue 18, point 9 (part): status reports that arrive at once, late or twice. On PostgreSQL concurrent reports of
// one device answered 409, which mender-client reads as "deployment aborted"; a late or replayed report reopened a
// finished device deployment and the next poll handed it out again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../../test/support/app.js';
import {
  addArtifact,
  createDeployment,
  deployment,
  nextV2,
  report,
  statistics,
} from '../../test/support/deployment-fixtures.js';
import { addDevice } from '../../test/support/inventory-fixtures.js';

const provides = (artifactName = 'release-1') => ({ device_type: 'qemu', artifact_name: artifactName });

for (const dialect of dialects) {
  describe(`status report races (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let uniq = 0;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    it('answers every one of many concurrent reports of one device with 204, never 409', async () => {
      for (let trial = 0; trial < 3; trial++) {
        const artifact = await addArtifact(t, { name: `race-${++uniq}` });
        const device = await addDevice(t);
        const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
        assert.equal((await nextV2(t, device, provides())).statusCode, 200);
        const steps = ['downloading', 'installing', 'rebooting', 'pause_before_committing'];
        const answers = await Promise.all(Array.from({ length: 24 }, (_, i) => report(t, device, id, steps[i % 4])));
        assert.deepEqual(
          answers.map((a) => a.statusCode),
          Array(24).fill(204),
          answers.map((a) => a.body).join(' '),
        );
        const stats = await statistics(t, token, id);
        assert.equal(
          steps.map((s) => stats[s]).reduce((a, b) => a + b, 0),
          1,
          JSON.stringify(stats),
        );
        assert.equal((await report(t, device, id, 'success')).statusCode, 204);
        assert.equal((await deployment(t, token, id)).status, 'finished');
      }
    });

    it('ignores a late or replayed report for a finished attempt: it never reopens', async () => {
      const artifact = await addArtifact(t, { name: `late-${++uniq}` });
      const device = await addDevice(t);
      const id = await createDeployment(t, token, { name: 'd', artifact_name: artifact.name, devices: [device.id] });
      assert.equal((await nextV2(t, device, provides())).statusCode, 200);
      for (const status of ['downloading', 'installing', 'success']) {
        assert.equal((await report(t, device, id, status)).statusCode, 204);
      }
      // Replays of earlier steps: answered 204 (a 409 reads as "aborted") and ignored.
      for (const status of ['downloading', 'installing', 'rebooting', 'pause_before_installing']) {
        assert.equal((await report(t, device, id, status)).statusCode, 204, status);
      }
      const stats = await statistics(t, token, id);
      assert.equal(stats.success, 1);
      const active = ['pending', 'downloading', 'installing', 'rebooting', 'pause_before_installing'];
      assert.equal(
        active.map((s) => stats[s]).reduce((a, b) => a + b, 0),
        0,
        JSON.stringify(stats),
      );
      const shown = await deployment(t, token, id);
      assert.equal(shown.status, 'finished');
      // The finished deployment is not handed out again.
      assert.equal((await nextV2(t, device, provides())).statusCode, 204);
    });
  });
}

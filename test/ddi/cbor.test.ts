// CBOR bodies where the DDI spec offers them, through inject on both dialects: answers in CBOR for a target whose
// Accept prefers application/cbor (the same data as the JSON answer), feedback and configData sent as CBOR, and
// malformed, truncated, oversized or wrongly shaped CBOR refused with hawkBit's 400 (413) changing nothing.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { decode, encode } from 'cborg';
import { prefersCbor } from '../../src/protocols/hawkbit/cbor.js';
import { dialects } from '../support/app.js';
import { type DdiBench, ddiBench, feedback } from './support.js';

describe('DDI Accept negotiation', () => {
  it('answers CBOR only when application/cbor ranks above JSON', () => {
    assert.equal(prefersCbor('application/cbor'), true);
    assert.equal(prefersCbor('application/cbor, application/json;q=0.5'), true);
    assert.equal(prefersCbor('application/json, application/cbor'), false);
    assert.equal(prefersCbor('application/cbor;q=0.4, */*;q=0.5'), false);
    assert.equal(prefersCbor('application/json'), false);
    assert.equal(prefersCbor(undefined), false);
  });
});

for (const dialect of dialects)
  describe(`DDI CBOR (${dialect})`, () => {
    let b: DdiBench;
    before(async () => {
      b = await ddiBench(dialect);
    });
    after(() => b.close());
    it('answers the poll and deploymentBase in CBOR, the same data as JSON', async () => {
      await b.deploy('cb-1');
      const json = (await b.ddi('GET', '')).json();
      const cbor = await b.ddiWith('GET', '', { accept: 'application/cbor' });
      assert.equal(cbor.statusCode, 200);
      assert.match(String(cbor.headers['content-type']), /^application\/cbor/);
      assert.deepEqual(decode(cbor.rawPayload), json);
      const action = /deploymentBase\/(\d+)/.exec(json._links.deploymentBase.href)?.[1];
      const base = await b.ddiWith('GET', `/deploymentBase/${action}`, { accept: 'application/cbor' });
      assert.deepEqual(decode(base.rawPayload), (await b.ddi('GET', `/deploymentBase/${action}`)).json());
      // Errors too: hawkBit's error body, in CBOR.
      const missing = await b.ddiWith('GET', '/deploymentBase/999999', { accept: 'application/cbor' });
      assert.equal(missing.statusCode, 404);
      assert.equal(decode(missing.rawPayload).errorCode, 'hawkbit.server.error.repo.entitiyNotFound');
      await b.ddi('POST', `/deploymentBase/${action}/feedback`, feedback('closed', 'success'));
    });

    it('takes feedback and configData as CBOR bodies', async () => {
      const id = await b.deploy('cb-2');
      const action = (await b.pollLink('deploymentBase')) as string;
      const cbor = { 'content-type': 'application/cbor' };
      const sent = await b.ddiWith('POST', `/deploymentBase/${action}/feedback`, cbor, encode(feedback('proceeding')));
      assert.equal(sent.statusCode, 200, sent.body);
      assert.equal(await b.ddStatus(id), 'installing');
      const config = await b.ddiWith('PUT', '/configData', cbor, encode({ data: { hwRevision: 'cb' }, mode: 'merge' }));
      assert.equal(config.statusCode, 200, config.body);
      const { device } = await b.t.services.inventory.device(b.t.tenant.id, b.deviceId);
      assert.equal(device.attributes.find((a: { name: string }) => a.name === 'hwRevision')?.value, 'cb');
      const done = await b.ddiWith(
        'POST',
        `/deploymentBase/${action}/feedback`,
        cbor,
        encode(feedback('closed', 'success')),
      );
      assert.equal(done.statusCode, 200);
      assert.equal(await b.ddStatus(id), 'success');
    });

    it('refuses malformed, truncated, oversized and wrongly shaped CBOR with a 400 (413) and changes nothing', async () => {
      const id = await b.deploy('cb-3');
      const action = (await b.pollLink('deploymentBase')) as string;
      const cbor = { 'content-type': 'application/cbor' };
      const good = Buffer.from(encode(feedback('closed', 'failure')));
      const bodies: [string, Buffer, number][] = [
        ['truncated', good.subarray(0, good.length - 3), 400],
        ['trailing bytes', Buffer.concat([good, Buffer.from([0x00])]), 400],
        ['not CBOR at all', Buffer.from([0xff, 0xfe, 0xfd]), 400],
        ['an array', Buffer.from(encode([1, 2, 3])), 400],
        ['a wrong execution', Buffer.from(encode(feedback('exploded'))), 400],
        ['a huge byte string', Buffer.from(encode({ status: new Uint8Array(2 * 1024 * 1024) })), 413],
      ];
      for (const [name, body, status] of bodies) {
        const res = await b.ddiWith('POST', `/deploymentBase/${action}/feedback`, cbor, body);
        assert.equal(res.statusCode, status, `${name}: ${res.body}`);
        if (status === 400) assert.equal(typeof res.json().message, 'string');
      }
      assert.equal(await b.ddStatus(id), 'pending');
    });
  });

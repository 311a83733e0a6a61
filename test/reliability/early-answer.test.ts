// Issue 18, point 9: an upload refused early (the artifact part is not an artifact) while the client is still
// sending. A client that writes its whole body before it reads (as many HTTP libraries do) must get the 400: the
// server used to stop reading, so the client's send stalled until the connection was reset ~72 s later.
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';

/** Writes the whole request, then reads until the end of the answer's head; resolves with its status line. */
function sendThenRead(port: number, head: string, body: Buffer[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head);
      for (const [i, chunk] of body.entries()) {
        socket.write(chunk, i < body.length - 1 ? undefined : () => socket.resume());
      }
    });
    socket.pause();
    socket.on('data', (data: Buffer) => {
      answer += data.toString('latin1');
      if (answer.includes('\r\n\r\n')) {
        socket.destroy();
        resolve(answer.split('\r\n')[0]);
      }
    });
    socket.on('error', (error) => reject(new Error(`${error.message} after ${JSON.stringify(answer)}`)));
  });
}

for (const dialect of dialects) {
  describe(`an early answer to an upload (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    let port: number;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      port = (t.app.server.address() as { port: number }).port;
    });
    after(() => t.close());

    test('reaches a client that sends its whole body first, and the server keeps answering', async () => {
      const boundary = 'early-answer';
      const partHead = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="a.mender"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\n',
      );
      // Far more than the socket buffers on both sides hold: the client's write can only end if the server reads.
      const notAnArtifact = Buffer.alloc(32 * 1024 * 1024, 7);
      const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
      const length = partHead.length + notAnArtifact.length + tail.length;
      const status = await sendThenRead(
        port,
        'POST /api/management/v1/deployments/artifacts HTTP/1.1\r\nHost: flotilla\r\n' +
          `Authorization: Bearer ${token}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\n` +
          `Content-Length: ${length}\r\n\r\n`,
        [partHead, notAnArtifact, tail],
      );
      assert.equal(status, 'HTTP/1.1 400 Bad Request');
      // The server still answers others.
      const health = await fetch(`http://127.0.0.1:${port}/health`);
      assert.equal(health.status, 200);
    });
  });
}

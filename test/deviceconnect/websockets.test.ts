// Device connect through real sockets on both dialects: the device socket's lifecycle (replacement, versioned
// state, the illegal 1006 close), who may reach a device, the relay's rewriting and limits, the tenant's switches,
// the event record, and REST file transfer's refusals (408, 409, 502, 400).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { buildApp } from '../../src/app.js';
import { encodeValue, Int64, PROTO_CONTROL, PROTO_FILE, PROTO_SHELL } from '../../src/deviceconnect/protomsg.js';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { addDevice, type TestDevice } from '../support/inventory-fixtures.js';
import { openSocket, type Peer, refusedUpgrade, sendRawClose1006 } from './support.js';

const M = '/api/management/v1/deviceconnect';

for (const dialect of dialects) {
  describe(`device connect over websockets (${dialect})`, () => {
    let t: TestApp;
    let base = '';
    let token = '';
    let userId = '';
    let otherToken = '';
    let device: TestDevice;

    before(async () => {
      t = await testApp(dialect, { deviceconnectPingInterval: 1, deviceconnectTimeout: 1 });
      await t.app.listen({ port: 0, host: '127.0.0.1' });
      const address = t.app.server.address();
      base = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      token = await adminToken(t);
      userId = (await t.app.inject({ url: '/api/management/v1/useradm/users/me', headers: bearer(token) })).json().id;
      const other = await t.services.tenants.create('other', 'other');
      await t.services.users.create(other.id, 'eve@other.example.com', 'other-password');
      otherToken = await adminToken(t, 'eve@other.example.com', 'other-password');
      device = await addDevice(t);
    });
    after(() => t.close());

    const bearer = (jwt: string) => ({ authorization: `Bearer ${jwt}` });
    const status = async (id = device.id, jwt = token) => {
      const res = await t.app.inject({ url: `${M}/devices/${id}`, headers: bearer(jwt) });
      return { code: res.statusCode, body: res.json() };
    };
    const untilStatus = async (want: string) => {
      while ((await status()).body.status !== want) await new Promise((r) => setTimeout(r, 20));
    };
    const connectDevice = () => openSocket(`ws://${base}/api/devices/v1/deviceconnect/connect`, bearer(device.token));
    const connectOperator = (headers: Record<string, string> = bearer(token)) =>
      openSocket(`ws://${base}${M}/devices/${device.id}/connect`, headers);

    it('a device socket marks the device connected; a new one replaces it; a 1006 close marks it disconnected', async () => {
      const before = await status();
      assert.equal(before.code, 200);
      assert.deepEqual(Object.keys(before.body).sort(), ['created_ts', 'device_id', 'status', 'updated_ts']);
      assert.equal(before.body.status, 'disconnected');
      const first = await connectDevice();
      await untilStatus('connected');
      const second = await connectDevice();
      assert.equal((await first.closed).code, 1000, 'the older socket is closed');
      // The older socket's disconnect names an older version: the device stays connected.
      await new Promise((r) => setTimeout(r, 100));
      assert.equal((await status()).body.status, 'connected');
      // The pings keep an answering socket open across several intervals.
      await new Promise((r) => setTimeout(r, 2500));
      assert.equal(second.socket.readyState, second.socket.OPEN);
      sendRawClose1006(second.socket);
      await second.closed;
      await untilStatus('disconnected');
      assert.equal((await t.app.inject({ url: '/api/openapi.json' })).statusCode, 200, 'the server is alive');
    });

    it('refuses: unknown device 404, another tenant 404, a device token 403, no token 401, not connected 404', async () => {
      assert.equal((await status('00000000-0000-4000-8000-000000000000')).code, 404);
      assert.equal((await status(device.id, otherToken)).code, 404);
      assert.equal((await status(device.id, device.token)).code, 403);
      assert.equal((await t.app.inject({ url: `${M}/devices/${device.id}` })).statusCode, 401);
      const notConnected = await refusedUpgrade(`ws://${base}${M}/devices/${device.id}/connect`, bearer(token));
      assert.equal(notConnected.status, 404);
      assert.match(JSON.parse(notConnected.body).error, /device disconnected/);
      const check = await t.app.inject({
        method: 'POST',
        url: `${M}/devices/${device.id}/check-update`,
        headers: bearer(token),
      });
      assert.equal(check.statusCode, 404);
      const dev = await connectDevice();
      await untilStatus('connected');
      try {
        const foreign = await refusedUpgrade(`ws://${base}${M}/devices/${device.id}/connect`, bearer(otherToken));
        assert.equal(foreign.status, 404);
        const asDevice = await refusedUpgrade(`ws://${base}${M}/devices/${device.id}/connect`, bearer(device.token));
        assert.equal(asDevice.status, 403);
        const plain = await t.app.inject({ url: `${M}/devices/${device.id}/connect`, headers: bearer(token) });
        assert.equal(plain.statusCode, 400, 'a GET without upgrade');
        const foreignCheck = await t.app.inject({
          method: 'POST',
          url: `${M}/devices/${device.id}/send-inventory`,
          headers: bearer(otherToken),
        });
        assert.equal(foreignCheck.statusCode, 404);
      } finally {
        dev.socket.close();
        await dev.closed;
      }
    });

    it('relays with the session id rewritten and user_id added, keeps int64 offsets, splits large input', async () => {
      const dev = await connectDevice();
      await untilStatus('connected');
      // The GUI's way: the JWT in a cookie.
      const op = await connectOperator({ cookie: `other=1; JWT=${token}` });
      try {
        op.send({ proto: PROTO_SHELL, typ: 'new', sid: 'chosen-by-client', props: { terminal_width: 80 } });
        const opened = await dev.inbox.take();
        const sid = opened.msg.sid!;
        assert.notEqual(sid, 'chosen-by-client');
        assert.equal(opened.msg.props?.user_id, userId);
        assert.equal(opened.msg.props?.terminal_width, 80);
        dev.send({ proto: PROTO_SHELL, typ: 'new', sid, props: { status: 1 }, body: Buffer.from('Shell started') });
        const reply = await op.inbox.take();
        assert.equal(reply.msg.typ, 'new');
        assert.equal(Buffer.from(reply.msg.body!).toString(), 'Shell started');

        const paste = Buffer.alloc(20_000, 'x');
        op.send({ proto: PROTO_SHELL, typ: 'shell', sid, body: paste });
        const pieces: Buffer[] = [];
        while (Buffer.concat(pieces).length < paste.length) {
          const piece = await dev.inbox.take();
          assert.ok(piece.frame.length <= 8192, `a frame of ${piece.frame.length} bytes reached the device`);
          assert.equal(piece.msg.sid, sid);
          pieces.push(Buffer.from(piece.msg.body!));
        }
        assert.ok(Buffer.concat(pieces).equals(paste));

        op.send({ proto: PROTO_FILE, typ: 'ack', sid, props: { offset: new Int64(4096) } });
        const ack = await dev.inbox.take();
        assert.ok(Buffer.from(ack.frame).toString('hex').includes('d30000000000001000'), 'offset still int64');

        const check = await t.app.inject({
          method: 'POST',
          url: `${M}/devices/${device.id}/check-update`,
          headers: bearer(token),
        });
        assert.equal(check.statusCode, 202);
        const command = await dev.inbox.take();
        assert.deepEqual([command.msg.proto, command.msg.typ, command.msg.sid], [4, 'check-update', undefined]);
        assert.equal(command.msg.props?.user_id, userId);

        // A configuration deployed to the device nudges it the same way (Mender's deploy_device_configuration).
        // (The fixture's device skipped admission, where its configuration record is made.)
        await t.services.store.transaction((trx) => t.services.configuration.provision(t.tenant.id, device.id, trx));
        const deployed = await t.app.inject({
          method: 'POST',
          url: `/api/management/v1/deviceconfig/configurations/device/${device.id}/deploy`,
          headers: bearer(token),
          payload: { retries: 0 },
        });
        assert.equal(deployed.statusCode, 200, deployed.body);
        const nudge = await dev.inbox.take();
        assert.deepEqual([nudge.msg.proto, nudge.msg.typ], [4, 'check-update']);

        // A malformed frame ends that operator's session only.
        const bad = await connectOperator();
        bad.socket.send(Buffer.from([0xc1, 0x00]));
        assert.equal((await bad.closed).code, 1007);
        const huge = await connectOperator();
        huge.socket.send(Buffer.alloc(70 * 1024));
        assert.equal((await huge.closed).code, 1009, 'frames past 64 KiB are refused');
        // A malformed frame from the device is dropped; its socket and the sessions on it carry on.
        dev.socket.send(Buffer.from([0x93, 0x01]));
        dev.socket.send('text, not a ProtoMsg');
        op.send({ proto: PROTO_SHELL, typ: 'shell', sid, body: Buffer.from('still here\n') });
        const still = await dev.inbox.take((m) => m.typ === 'shell');
        assert.equal(Buffer.from(still.msg.body!).toString(), 'still here\n');
        assert.equal(dev.socket.readyState, dev.socket.OPEN);

        dev.send({ proto: PROTO_SHELL, typ: 'shell', sid, props: { status: 1 }, body: Buffer.from('hello-42\r\n') });
        dev.send({ proto: PROTO_SHELL, typ: 'shell', sid, props: { status: 1 }, body: Buffer.from('$ ') });
        await op.inbox.take((m) => m.typ === 'shell' && Buffer.from(m.body!).toString() === '$ ');
        op.socket.close();
        const stop = await dev.inbox.take((m) => m.sid === sid && m.typ === 'stop');
        assert.equal(stop.msg.proto, PROTO_SHELL);
        await dev.inbox.take((m) => m.sid === sid && m.proto === PROTO_CONTROL && m.typ === 'close');
        // The events are written beside the relay, not in its way: wait for the second.
        let terminal: string[][] = [];
        while (terminal.length < 2) {
          const events = await t.services.connect.events(t.tenant.id, device.id);
          terminal = events.filter((e) => e.session_id === sid).map((e) => [e.action, e.actor_id]);
        }
        assert.deepEqual(terminal, [
          ['open_terminal', userId],
          ['close_terminal', userId],
        ]);

        // The session was recorded: its playback gives the output back, for this tenant only.
        const playback = await openSocket(`ws://${base}${M}/sessions/${sid}/playback?sleep_ms=0`, bearer(token));
        const end = await playback.closed;
        assert.equal(end.code, 1000);
        const played = playback.inbox.messages
          .filter((m) => m.typ === 'shell')
          .map((m) => Buffer.from(m.body!).toString());
        assert.equal(played.join(''), 'hello-42\r\n$ ');
        assert.ok(playback.inbox.messages.every((m) => m.sid === sid && m.proto === PROTO_SHELL));
        const foreign = await refusedUpgrade(`ws://${base}${M}/sessions/${sid}/playback`, bearer(otherToken));
        assert.equal(foreign.status, 404);
        const unknown = await refusedUpgrade(`ws://${base}${M}/sessions/no-such-session/playback`, bearer(token));
        assert.equal(unknown.status, 404);
      } finally {
        op.socket.close();
        dev.socket.close();
        await dev.closed;
      }
    });

    it('cuts a session past 8 MiB of output: the device gets stop, the operator close 1008', async () => {
      const dev = await connectDevice();
      await untilStatus('connected');
      try {
        const op = await connectOperator();
        op.send({ proto: PROTO_SHELL, typ: 'new' });
        const sid = (await dev.inbox.take()).msg.sid!;
        const chunk = Buffer.alloc(4096, 'y');
        for (let sent = 0; sent <= 8 * 1024 * 1024; sent += chunk.length) {
          dev.send({ proto: PROTO_SHELL, typ: 'shell', sid, props: { status: 1 }, body: chunk });
        }
        const closed = await op.closed;
        assert.equal(closed.code, 1008);
        const stop = await dev.inbox.take((m) => m.typ === 'stop');
        assert.equal(Buffer.from(stop.msg.body!).toString(), 'session byte limit exceeded');
        assert.equal(dev.socket.readyState, dev.socket.OPEN, 'the device stays connected');
      } finally {
        dev.socket.close();
        await dev.closed;
      }
    });

    it('bounds the sessions on one device (429 past 32)', async () => {
      const dev = await connectDevice();
      await untilStatus('connected');
      const operators: Peer[] = [];
      try {
        for (let i = 0; i < 32; i++) operators.push(await connectOperator());
        const refused = await refusedUpgrade(`ws://${base}${M}/devices/${device.id}/connect`, bearer(token));
        assert.equal(refused.status, 429);
        const one = operators.pop()!;
        one.socket.close();
        await one.closed;
        // The session ends on the server once the close arrives there.
        for (;;) {
          try {
            operators.push(await connectOperator());
            break;
          } catch {
            await new Promise((r) => setTimeout(r, 20));
          }
        }
      } finally {
        for (const op of operators) op.socket.close();
        dev.socket.close();
        await dev.closed;
      }
    });

    it("honours the tenant's switches", async () => {
      const settings = `${M}/settings`;
      const put = await t.app.inject({
        method: 'PUT',
        url: settings,
        headers: bearer(token),
        payload: { terminal: false, file_transfer: false, port_forward: true },
      });
      assert.equal(put.statusCode, 204);
      const bad = await t.app.inject({
        method: 'PUT',
        url: settings,
        headers: bearer(token),
        payload: { terminal: 'no' },
      });
      assert.equal(bad.statusCode, 400);
      const dev = await connectDevice();
      await untilStatus('connected');
      try {
        const op = await connectOperator();
        op.send({ proto: PROTO_SHELL, typ: 'new' });
        const refused = await op.inbox.take();
        assert.deepEqual([refused.msg.proto, refused.msg.typ], [PROTO_CONTROL, 'error']);
        const download = await t.app.inject({
          url: `${M}/devices/${device.id}/download?path=/etc/hostname`,
          headers: bearer(token),
        });
        assert.equal(download.statusCode, 403);
        op.socket.close();
        await op.closed;
        // Nothing of the refused shell reached the device, only the end of the session.
        await dev.inbox.take((m) => m.proto === PROTO_CONTROL && m.typ === 'close');
        assert.equal(dev.inbox.messages.filter((m) => m.proto === PROTO_SHELL).length, 0);
      } finally {
        await t.services.connect.setSettings(t.tenant.id, { terminal: true, file_transfer: true, port_forward: true });
        dev.socket.close();
        await dev.closed;
      }
    });

    it('file transfer: 408 from a silent device, 502 without file transfer, 400 for its errors, 409 when it goes', async () => {
      const download = (path: string) =>
        t.app.inject({
          url: `${M}/devices/${device.id}/download?path=${encodeURIComponent(path)}`,
          headers: bearer(token),
        });
      let dev: Peer = await connectDevice();
      await untilStatus('connected');
      try {
        assert.equal((await download('/silent')).statusCode, 408);
        await dev.inbox.take((m) => m.proto === PROTO_CONTROL && m.typ === 'close');
        dev.inbox.clear();
        assert.equal((await download('relative/path')).statusCode, 400);

        const refused = download('/no-file-transfer');
        const open = await dev.inbox.take((m) => m.typ === 'open');
        dev.send({
          proto: PROTO_CONTROL,
          typ: 'accept',
          sid: open.msg.sid,
          body: encodeValue({ version: 1, protocols: [1] }),
        });
        assert.equal((await refused).statusCode, 502);

        const accept = (sid: string | undefined) =>
          dev.send({
            proto: PROTO_CONTROL,
            typ: 'accept',
            sid,
            body: encodeValue({ version: 1, protocols: [1, 2, 3] }),
          });
        const missing = download('/missing');
        accept((await dev.inbox.take((m) => m.typ === 'open')).msg.sid);
        const stat = await dev.inbox.take((m) => m.typ === 'stat');
        dev.send({
          proto: PROTO_FILE,
          typ: 'error',
          sid: stat.msg.sid,
          body: encodeValue({ err: "failed to get file info from path '/missing': no such file", msgtype: 'stat' }),
        });
        const missingRes = await missing;
        assert.equal(missingRes.statusCode, 400);
        assert.match(missingRes.json().error, /no such file/);

        const directory = download('/etc');
        accept((await dev.inbox.take((m) => m.typ === 'open')).msg.sid);
        const dirStat = await dev.inbox.take((m) => m.typ === 'stat');
        dev.send({
          proto: PROTO_FILE,
          typ: 'file_info',
          sid: dirStat.msg.sid,
          body: encodeValue({ path: '/etc', size: 4096, uid: 0, gid: 0, mode: 2 ** 31 + 0o755 }),
        });
        assert.equal((await directory).statusCode, 400);

        const gone = download('/gone');
        await dev.inbox.take((m) => m.typ === 'open');
        dev.socket.close();
        assert.equal((await gone).statusCode, 409);
        dev = await connectDevice();
      } finally {
        dev.socket.close();
        await dev.closed;
      }
    });

    it('reaches a device held by another server process on the same PostgreSQL database', async (ctx) => {
      if (dialect !== 'postgres') {
        ctx.skip('one process on SQLite');
        return;
      }
      const second = await buildApp(t.config, { pgSchema: t.pgSchema });
      await second.listen({ port: 0, host: '127.0.0.1' });
      const address = second.server.address();
      const secondBase = `127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
      const dev = await connectDevice();
      await untilStatus('connected');
      try {
        const op = await openSocket(`ws://${secondBase}${M}/devices/${device.id}/connect`, bearer(token));
        op.send({ proto: PROTO_SHELL, typ: 'new', props: { terminal_width: 80 } });
        const opened = await dev.inbox.take();
        assert.equal(opened.msg.props?.user_id, userId);
        const sid = opened.msg.sid!;
        // Larger than one NOTIFY payload: it travels in parts.
        const output = Buffer.alloc(7000, 'o');
        dev.send({ proto: PROTO_SHELL, typ: 'shell', sid, props: { status: 1 }, body: output });
        const relayed = await op.inbox.take();
        assert.ok(Buffer.from(relayed.msg.body!).equals(output));
        const check = await second.inject({
          method: 'POST',
          url: `${M}/devices/${device.id}/check-update`,
          headers: bearer(token),
        });
        assert.equal(check.statusCode, 202);
        assert.equal((await dev.inbox.take((m) => m.proto === 4)).msg.typ, 'check-update');
        dev.socket.close();
        assert.equal((await op.closed).code, 1001, 'the operator learns that the device went');
      } finally {
        dev.socket.close();
        await second.close();
      }
    });
  });
}

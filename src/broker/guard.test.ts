// Issue 18, point 2: what a network peer may cost the embedded broker. A packet over the limit (much smaller
// before login) closes the connection from its first bytes; connections per address are capped; after repeated
// failed logins an address is refused without its credentials being checked.
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, it } from 'node:test';
import mqtt from 'mqtt';
import type { DeviceAuthenticator } from './broker.js';
import { EmbeddedBroker } from './embedded.js';
import { PacketFrames, PeerBook } from './guard.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

/** MQTT's remaining-length encoding. */
function remainingLength(n: number): Buffer {
  const bytes: number[] = [];
  do {
    let byte = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) byte |= 0x80;
    bytes.push(byte);
  } while (n > 0);
  return Buffer.from(bytes);
}

describe('MQTT packet framing', () => {
  it('reads announced sizes across chunk boundaries', () => {
    const frames = new PacketFrames();
    const small = Buffer.concat([Buffer.from([0x30]), remainingLength(300), Buffer.alloc(300)]);
    // Byte by byte: no packet over 1000.
    for (const byte of small) assert.equal(frames.over(Buffer.from([byte]), 1000), undefined);
    const big = Buffer.concat([Buffer.from([0x30]), remainingLength(250 * 1024 * 1024)]);
    assert.equal(frames.over(big.subarray(0, 2), 1000), undefined);
    assert.equal(frames.over(big.subarray(2), 1000), 1 + 4 + 250 * 1024 * 1024);
    assert.equal(new PacketFrames().over(Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff]), 1000), Infinity);
  });

  it('counts connections and failed logins per address', () => {
    let now = 0;
    const peers = new PeerBook(
      {
        maxPacketBeforeAuth: 1,
        maxPacket: 1,
        maxConnectionsPerAddress: 2,
        maxFailedLogins: 2,
        failedLoginWindowMs: 1000,
      },
      () => now,
    );
    assert.ok(peers.connect('a') && peers.connect('a'));
    assert.equal(peers.connect('a'), false);
    assert.ok(peers.connect('b'));
    peers.disconnect('a');
    assert.ok(peers.connect('a'));
    peers.loginFailed('a');
    assert.equal(peers.throttled('a'), false);
    peers.loginFailed('a');
    assert.equal(peers.throttled('a'), true);
    assert.equal(peers.throttled('b'), false);
    now = 1000;
    assert.equal(peers.throttled('a'), false);
  });
});

describe('embedded broker limits', () => {
  let broker: EmbeddedBroker;
  let checked = 0;
  const authenticate: DeviceAuthenticator = async (username, password) => {
    checked++;
    return username === 'device' && password?.toString() === 'secret'
      ? { tenantId: 't', deviceId: 'd' }
      : { refused: 'bad-credentials', reason: 'bad username or password' };
  };
  // A broker per test: each test's connections and failed logins count against the same address.
  beforeEach(async () => {
    broker = new EmbeddedBroker({
      port: 0,
      host: '127.0.0.1',
      authenticate,
      log: quiet,
      limits: { maxPacketBeforeAuth: 1024, maxPacket: 8192, maxConnectionsPerAddress: 3, maxFailedLogins: 3 },
    });
    await broker.start();
  });
  afterEach(() => broker.close());

  const raw = () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect(broker.listeningPort, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    });
  const closed = (socket: Socket) =>
    new Promise<void>((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
  /** A CONNECT over a raw socket (client id, username `device`, password `secret`): true on CONNACK accepted. */
  const rawLogin = async () => {
    const text = (value: string) => {
      const bytes = Buffer.from(value);
      return Buffer.concat([Buffer.from([bytes.length >> 8, bytes.length & 0xff]), bytes]);
    };
    const variable = Buffer.concat([
      text('MQTT'),
      Buffer.from([4, 0xc2, 0, 60]),
      text('raw'),
      text('device'),
      text('secret'),
    ]);
    const socket = await raw();
    socket.on('error', () => undefined);
    const answer = new Promise<boolean>((resolve) => {
      socket.once('data', (data: Buffer) => resolve(data[0] === 0x20 && data[3] === 0));
      socket.once('close', () => resolve(false));
    });
    socket.write(Buffer.concat([Buffer.from([0x10]), remainingLength(variable.length), variable]));
    const ok = await answer;
    socket.destroy();
    await closed(socket);
    return ok;
  };
  const login = (password: string) =>
    new Promise<{ ok: boolean; code?: number }>((resolve) => {
      const client = mqtt.connect(broker.address(), { username: 'device', password, reconnectPeriod: 0 });
      client.once('connect', () => {
        resolve({ ok: true });
        client.end(true);
      });
      client.once('error', (error) => {
        resolve({ ok: false, code: (error as { code?: number }).code });
        client.end(true);
      });
      client.once('close', () => resolve({ ok: false }));
    });

  it('closes an unauthenticated connection that announces a huge packet, from its first bytes', async () => {
    const socket = await raw();
    socket.on('error', () => undefined);
    // A CONNECT announcing 250 MiB, then a first kilobyte of it: the broker must not wait for (or buffer) the rest.
    socket.write(Buffer.concat([Buffer.from([0x10]), remainingLength(250 * 1024 * 1024), Buffer.alloc(1024)]));
    await closed(socket);
    // A device that logged in may send more than the pre-login limit, up to its own.
    const client = await mqtt.connectAsync(broker.address(), {
      username: 'device',
      password: 'secret',
      reconnectPeriod: 0,
    });
    await client.publishAsync('telemetry/t/d', Buffer.alloc(4000), { qos: 1 });
    const gone = new Promise<void>((resolve) => client.stream.once('close', () => resolve()));
    client.publish('telemetry/t/d', Buffer.alloc(9000), { qos: 0 });
    await gone;
    await client.endAsync(true);
  });

  it('refuses logins from an address unchecked after repeated failures', async () => {
    checked = 0;
    for (let i = 0; i < 3; i++) assert.deepEqual(await login('guess'), { ok: false, code: 4 });
    assert.equal(checked, 3);
    // Even the right password is not checked now.
    assert.deepEqual(await login('secret'), { ok: false, code: 5 });
    assert.equal(checked, 3);
  });
  it('caps open connections per address', async () => {
    const sockets = await Promise.all([raw(), raw(), raw()]);
    const fourth = await raw();
    fourth.on('error', () => undefined);
    await closed(fourth);
    for (const s of sockets) assert.equal(s.destroyed, false);
    sockets[0].destroy();
    await closed(sockets[0]);
    // The server counts the close when it sees it; a new connection is taken (and logs in) once it has.
    let accepted = false;
    for (let tries = 0; tries < 100 && !accepted; tries++) {
      accepted = await rawLogin();
      if (!accepted) await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(accepted, 'a connection is taken again once one closed');
    for (const s of sockets.slice(1)) s.destroy();
  });
});

import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, parseFlags } from './config.js';

describe('config', () => {
  it('defaults to port 8080 and ./data', () => {
    const c = loadConfig({}, {});
    assert.equal(c.port, 8080);
    assert.equal(c.dataDir, resolve('data'));
    assert.equal(c.databaseUrl, '');
  });

  it('lets flags win over environment, and environment over defaults', () => {
    const env = { FLOTILLA_PORT: '9000', FLOTILLA_DATA: '/tmp/x', FLOTILLA_DATABASE_URL: 'postgres://h/db' };
    assert.equal(loadConfig({}, env).port, 9000);
    assert.equal(loadConfig({}, env).databaseUrl, 'postgres://h/db');
    const { flags } = parseFlags(['serve', '--port', '9100', '--data=/srv/f']);
    const c = loadConfig(flags, env);
    assert.equal(c.port, 9100);
    assert.equal(c.dataDir, '/srv/f');
  });

  it('reads the silent-device timeout and the sweep interval; both have safe defaults', () => {
    assert.deepEqual([loadConfig({}, {}).deploymentTimeout, loadConfig({}, {}).sweepInterval], [0, 30]);
    const env = { FLOTILLA_DEPLOYMENT_TIMEOUT: '3600', FLOTILLA_SWEEP_INTERVAL: '5' };
    assert.deepEqual([loadConfig({}, env).deploymentTimeout, loadConfig({}, env).sweepInterval], [3600, 5]);
    assert.equal(loadConfig({ 'deployment-timeout': '60' }, env).deploymentTimeout, 60);
    assert.throws(() => loadConfig({}, { FLOTILLA_DEPLOYMENT_TIMEOUT: 'soon' }), /FLOTILLA_DEPLOYMENT_TIMEOUT/);
  });

  it('reads the blob reaper interval and grace, and a crash point only by a known name', () => {
    const c = loadConfig({}, {});
    assert.deepEqual([c.reapInterval, c.blobGrace, c.crashAt], [3600, 3600, undefined]);
    const env = { FLOTILLA_REAP_INTERVAL: '0', FLOTILLA_BLOB_GRACE: '5', FLOTILLA_CRASH_AT: 'artifact.deleted' };
    assert.deepEqual(
      [loadConfig({}, env).reapInterval, loadConfig({}, env).blobGrace, loadConfig({}, env).crashAt],
      [0, 5, 'artifact.deleted'],
    );
    assert.throws(() => loadConfig({}, { FLOTILLA_CRASH_AT: 'somewhere' }), /FLOTILLA_CRASH_AT must be one of/);
  });

  it('reads how long audit entries are kept (a year by default; 0 keeps them for ever)', () => {
    assert.equal(loadConfig({}, {}).auditRetentionDays, 365);
    assert.equal(loadConfig({}, { FLOTILLA_AUDIT_RETENTION_DAYS: '0' }).auditRetentionDays, 0);
    assert.throws(() => loadConfig({}, { FLOTILLA_AUDIT_RETENTION_DAYS: 'ever' }), /FLOTILLA_AUDIT_RETENTION_DAYS/);
  });

  it('reads the public URL (kept without its trailing slash) and refuses one links cannot start with', () => {
    assert.equal(loadConfig({}, {}).publicUrl, '');
    assert.equal(
      loadConfig({}, { FLOTILLA_PUBLIC_URL: 'https://updates.example.com/' }).publicUrl,
      'https://updates.example.com',
    );
    assert.equal(
      loadConfig({ 'public-url': 'http://10.0.0.5:8080/fleet//' }, { FLOTILLA_PUBLIC_URL: 'https://a.example' })
        .publicUrl,
      'http://10.0.0.5:8080/fleet',
    );
    for (const bad of [
      'updates.example.com',
      'ftp://x.example',
      'https://x.example/?a=1',
      'https://u:p@x.example',
      'https://x.example/#top',
    ]) {
      assert.throws(() => loadConfig({}, { FLOTILLA_PUBLIC_URL: bad }), /FLOTILLA_PUBLIC_URL/, bad);
    }
  });

  it('trusts a proxy on loopback by default; true, false, a hop count or addresses and ranges otherwise', () => {
    assert.deepEqual(loadConfig({}, {}).trustProxy, ['loopback']);
    const of = (value: string) => loadConfig({}, { FLOTILLA_TRUST_PROXY: value }).trustProxy;
    assert.equal(of('true'), true);
    assert.equal(of('false'), false);
    assert.equal(of('2'), 2);
    assert.deepEqual(of('10.0.0.0/8, 192.168.1.7,::1, fd00::/8,uniquelocal'), [
      '10.0.0.0/8',
      '192.168.1.7',
      '::1',
      'fd00::/8',
      'uniquelocal',
    ]);
    assert.deepEqual(loadConfig({ 'trust-proxy': '127.0.0.1' }, { FLOTILLA_TRUST_PROXY: 'true' }).trustProxy, [
      '127.0.0.1',
    ]);
    for (const bad of ['yes', 'proxy.example.com', '10.0.0.0/8/1', 'loopback/8', ',']) {
      assert.throws(() => of(bad), /FLOTILLA_TRUST_PROXY/, bad);
    }
  });

  it('refuses a port that is not a number', () => {
    assert.throws(() => loadConfig({ port: 'eighty' }, {}), /--port/);
    assert.throws(() => loadConfig({}, { FLOTILLA_PORT: '-1' }), /FLOTILLA_PORT/);
  });

  it('keeps the embedded broker on loopback and /metrics local unless told otherwise', () => {
    const c = loadConfig({}, {});
    assert.deepEqual(
      [c.host, c.mqttHost, c.metricsToken, c.logFormat, c.shutdownTimeout],
      ['0.0.0.0', '127.0.0.1', '', 'auto', 30],
    );
    const env = {
      FLOTILLA_MQTT_HOST: '0.0.0.0',
      FLOTILLA_METRICS_TOKEN: 'scrape',
      FLOTILLA_LOG_FORMAT: 'json',
      FLOTILLA_SHUTDOWN_TIMEOUT: '5',
    };
    const d = loadConfig({}, env);
    assert.deepEqual([d.mqttHost, d.metricsToken, d.logFormat, d.shutdownTimeout], ['0.0.0.0', 'scrape', 'json', 5]);
    assert.equal(loadConfig({ 'mqtt-host': '192.0.2.1' }, env).mqttHost, '192.0.2.1');
    assert.throws(() => loadConfig({}, { FLOTILLA_LOG_FORMAT: 'xml' }), /FLOTILLA_LOG_FORMAT/);
    assert.throws(() => loadConfig({}, { FLOTILLA_SHUTDOWN_TIMEOUT: 'later' }), /FLOTILLA_SHUTDOWN_TIMEOUT/);
  });

  it('reads the S3 blob store: an endpoint with the bucket in the path, or s3://bucket for AWS itself', () => {
    assert.equal(loadConfig({}, {}).s3, undefined);
    assert.deepEqual(loadConfig({}, { FLOTILLA_S3_URL: 'http://127.0.0.1:7480/flotilla' }).s3, {
      endpoint: 'http://127.0.0.1:7480',
      region: 'us-east-1',
      bucket: 'flotilla',
      prefix: '',
      pathStyle: true,
    });
    assert.deepEqual(loadConfig({}, { FLOTILLA_S3_URL: 's3://ota-blobs/prod/eu', AWS_REGION: 'eu-central-1' }).s3, {
      endpoint: '',
      region: 'eu-central-1',
      bucket: 'ota-blobs',
      prefix: 'prod/eu/',
      pathStyle: false,
    });
    const hosted = {
      FLOTILLA_S3_URL: 'https://s3.example.com/bk1',
      FLOTILLA_S3_REGION: 'x',
      FLOTILLA_S3_PATH_STYLE: 'false',
    };
    assert.deepEqual([loadConfig({}, hosted).s3?.pathStyle, loadConfig({}, hosted).s3?.region], [false, 'x']);
    assert.equal(loadConfig({ 's3-url': 'http://h:1/bk2' }, {}).s3?.bucket, 'bk2');
    for (const bad of [
      'ftp://h/b',
      'http://h',
      'http://h/B_',
      'http://key:secret@h/bucket',
      'http://h/bucket?x=1',
      'nope',
    ]) {
      assert.throws(() => loadConfig({}, { FLOTILLA_S3_URL: bad }), /FLOTILLA_S3_URL/, bad);
    }
    assert.throws(
      () => loadConfig({}, { FLOTILLA_S3_URL: 'http://h/bk1', FLOTILLA_S3_PATH_STYLE: 'yes' }),
      /PATH_STYLE/,
    );
  });
});

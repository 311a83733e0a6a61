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
});

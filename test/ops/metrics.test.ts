// /metrics: the exposition parses with a Prometheus text-format parser, its counters move when Mender and DDI devices
// poll, the scrape-time gauges read the database, an upload shows while in flight, and the endpoint is guarded (a
// bearer token when one is set, loopback clients only otherwise).
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import parsePrometheusTextFormat, { type PrometheusFamily } from 'parse-prometheus-text-format';
import { adminToken, dialects, type TestApp, testApp } from '../support/app.js';
import { assignedAttempt, ddiTarget, nextV2, report } from '../support/deployment-fixtures.js';

type Scrape = Map<string, PrometheusFamily> & { text: string };

async function scrape(t: TestApp): Promise<Scrape> {
  const res = await t.app.inject({ method: 'GET', url: '/metrics' });
  assert.equal(res.statusCode, 200, res.body);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  const families = new Map(parsePrometheusTextFormat(res.body).map((family) => [family.name, family]));
  return Object.assign(families, { text: res.body });
}

/**
 * A labelled histogram's `_count` or `_sum`, read from the text: the parser folds the series of a labelled histogram
 * into one and keeps only its buckets (it handles unlabelled histograms only).
 */
function histogramLine(s: Scrape, series: string): number {
  const line = s.text.split('\n').find((l) => l.startsWith(`${series} `));
  assert.ok(line, `${series} is exposed`);
  return Number(line.slice(series.length + 1));
}

/** The value of the sample with these labels (0 when there is none). */
function sample(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const family = s.get(name);
  assert.ok(family, `${name} is exposed`);
  const found = family.metrics.find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return found ? Number(found.value ?? found.count) : 0;
}

const total = (s: Scrape, name: string) =>
  (s.get(name)?.metrics ?? []).reduce((sum, m) => sum + Number(m.value ?? m.count ?? 0), 0);

for (const dialect of dialects) {
  describe(`metrics (${dialect})`, () => {
    let t: TestApp;
    let token: string;
    before(async () => {
      t = await testApp(dialect);
      token = await adminToken(t);
    });
    after(() => t.close());

    it('counts device polls per protocol, requests per route family, and deployments by status', async () => {
      const first = await scrape(t);
      assert.equal(first.get('flotilla_device_polls_total')?.type, 'COUNTER');
      assert.equal(sample(first, 'flotilla_device_polls_total', { protocol: 'mender' }), 0);
      assert.equal(sample(first, 'flotilla_device_polls_total', { protocol: 'ddi' }), 0);

      const { id, device } = await assignedAttempt(t, token, 'metrics-1.0');
      const again = await nextV2(t, device, { device_type: 'qemu', artifact_name: 'old' });
      assert.equal(again.statusCode, 200, again.body);
      const target = await ddiTarget(t, token, 'metrics-ddi-1');
      const poll = await t.app.inject({
        method: 'GET',
        url: '/DEFAULT/controller/v1/metrics-ddi-1',
        headers: { authorization: `TargetToken ${target.token}` },
      });
      assert.equal(poll.statusCode, 200, poll.body);

      const second = await scrape(t);
      assert.equal(sample(second, 'flotilla_device_polls_total', { protocol: 'mender' }), 2);
      assert.equal(sample(second, 'flotilla_device_polls_total', { protocol: 'ddi' }), 1);
      const devicePolls = { family: 'devices/deployments', method: 'POST', status: '2xx' };
      assert.equal(sample(second, 'flotilla_http_requests_total', devicePolls), 2);
      assert.equal(sample(second, 'flotilla_http_requests_total', { family: 'ddi/controller', method: 'GET' }), 1);
      assert.equal(second.get('flotilla_http_request_duration_seconds')?.type, 'HISTOGRAM');
      const pollSeries = '{family="devices/deployments",method="POST"}';
      assert.equal(histogramLine(second, `flotilla_http_request_duration_seconds_count${pollSeries}`), 2);
      assert.ok(histogramLine(second, `flotilla_http_request_duration_seconds_sum${pollSeries}`) > 0);

      assert.equal(sample(second, 'flotilla_deployments', { status: 'pending' }), 1);
      assert.equal(sample(second, 'flotilla_device_deployments', { status: 'pending' }), 1);
      assert.equal(total(second, 'flotilla_deployments'), 1);
      assert.equal(total(second, 'flotilla_device_deployments'), 1);

      assert.equal((await report(t, device, id, 'downloading')).statusCode, 204);
      const third = await scrape(t);
      assert.equal(sample(third, 'flotilla_deployments', { status: 'inprogress' }), 1);
      assert.equal(sample(third, 'flotilla_device_deployments', { status: 'downloading' }), 1);
      assert.equal(total(third, 'flotilla_device_deployments'), 1);
      assert.ok(sample(second, 'flotilla_db_pool_connections', { state: 'total' }) >= 1);
      assert.equal(sample(second, 'flotilla_mqtt_connections'), 0);
    });

    it('shows an artifact upload while it is in flight, and not after it ends', async () => {
      const body = new PassThrough();
      const boundary = 'metricsboundary';
      const upload = t.app.inject({
        method: 'POST',
        url: '/api/management/v1/deployments/artifacts',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': `multipart/form-data; boundary=${boundary}`,
        },
        payload: body,
      });
      body.write(
        `--${boundary}\r\nContent-Disposition: form-data; name="artifact"; filename="a.mender"\r\n` +
          'Content-Type: application/octet-stream\r\n\r\nnot a tar',
      );
      let during = 0;
      for (let i = 0; i < 200 && during === 0; i++) {
        during = sample(await scrape(t), 'flotilla_uploads_in_flight');
        if (during === 0) await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal(during, 1);
      body.end(`\r\n--${boundary}--\r\n`);
      const res = await upload;
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(sample(await scrape(t), 'flotilla_uploads_in_flight'), 0);
    });

    it('answers loopback clients only when no token is set', async () => {
      const remote = await t.app.inject({ method: 'GET', url: '/metrics', remoteAddress: '192.0.2.7' });
      assert.equal(remote.statusCode, 403);
      assert.match(remote.json().error, /FLOTILLA_METRICS_TOKEN/);
      const forwarded = await t.app.inject({
        method: 'GET',
        url: '/metrics',
        remoteAddress: '192.0.2.7',
        headers: { 'x-forwarded-for': '127.0.0.1' },
      });
      assert.equal(forwarded.statusCode, 403);
    });
  });
}

describe('metrics behind a token', () => {
  let t: TestApp;
  before(async () => {
    t = await testApp(dialects[0], { metricsToken: 'scrape-secret' });
  });
  after(() => t.close());

  it('asks every client for the bearer token, loopback included', async () => {
    const get = (authorization?: string, remoteAddress = '127.0.0.1') =>
      t.app.inject({ method: 'GET', url: '/metrics', remoteAddress, headers: authorization ? { authorization } : {} });
    assert.equal((await get()).statusCode, 401);
    assert.equal((await get('Bearer wrong')).statusCode, 401);
    assert.equal((await get('Bearer scrape-secret-and-more')).statusCode, 401);
    const remote = await get('Bearer scrape-secret', '192.0.2.7');
    assert.equal(remote.statusCode, 200);
    assert.ok(parsePrometheusTextFormat(remote.body).some((f) => f.name === 'flotilla_http_requests_total'));
  });
});

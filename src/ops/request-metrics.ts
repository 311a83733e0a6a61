// Per-request figures for /metrics (answers by route family, method and status class; latency; device polls),
// counted in plain numbers on the request path and handed to prom-client only when scraped. prom-client's own
// `inc`/`observe` hash their labels and look a float bucket up as a property name on every call: 6-7 % of a device
// poll's CPU. A route's labels are worked out once, the first time it answers.
import type { Metric, Registry } from 'prom-client';

/** Upper bounds of the latency buckets, seconds. */
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60];

/** One route template and method: its labels and what it has answered so far. */
interface Series {
  family: string;
  method: string;
  /** Device polls are counted per protocol too. */
  protocol: string | undefined;
  /** Answers by status class: index 1 is 1xx … 5 is 5xx. */
  byClass: number[];
  /** Non-cumulative bucket counts (the last one past every bound), the sum of seconds, the count. */
  buckets: number[];
  sum: number;
  count: number;
}

export interface RequestMetricsOptions {
  /** The family label of a route template (undefined: a request no route served). */
  familyOf(route: string | undefined): string;
  /** The protocol whose poll this route and method are, if any. */
  pollProtocolOf(method: string, route: string): string | undefined;
  /** Protocols shown at 0 before their first poll. */
  protocols: readonly string[];
}

type Labels = Record<string, string | number>;
type Value = { labels: Labels; value: number; metricName?: string };

export class RequestMetrics {
  /** Route template (or '' for none) → method → its series. */
  private readonly routes = new Map<string, Map<string, Series>>();

  constructor(private readonly options: RequestMetricsOptions) {}

  /** One answer: `seconds` from request to response. */
  record(route: string | undefined, method: string, status: number, seconds: number): void {
    const series = this.seriesOf(route, method);
    const statusClass = Math.floor(status / 100);
    if (statusClass >= 1 && statusClass <= 5) series.byClass[statusClass]++;
    let bucket = 0;
    while (bucket < BUCKETS.length && seconds > BUCKETS[bucket]) bucket++;
    series.buckets[bucket]++;
    series.sum += seconds;
    series.count++;
  }

  /** The series of a route and method, made the first time it answers. */
  private seriesOf(route: string | undefined, method: string): Series {
    const key = route ?? '';
    let methods = this.routes.get(key);
    if (!methods) {
      methods = new Map();
      this.routes.set(key, methods);
    }
    let series = methods.get(method);
    if (!series) {
      series = {
        family: this.options.familyOf(route),
        method,
        protocol: route === undefined ? undefined : this.options.pollProtocolOf(method, route),
        byClass: [0, 0, 0, 0, 0, 0],
        buckets: new Array(BUCKETS.length + 1).fill(0),
        sum: 0,
        count: 0,
      };
      methods.set(method, series);
    }
    return series;
  }

  /** Registers the three metrics in `registry`, in prom-client's shapes (its text format does the rest). */
  register(registry: Registry): void {
    const all = () => [...this.routes.values()].flatMap((methods) => [...methods.values()]);
    const metric = (name: string, help: string, type: 'counter' | 'histogram', values: () => Value[]) =>
      registry.registerMetric({
        name,
        help,
        type,
        aggregator: 'sum',
        get: async () => ({ name, help, type, aggregator: 'sum', values: values() }),
        reset: () => undefined,
      } as unknown as Metric);

    metric(
      'flotilla_http_requests_total',
      'HTTP requests answered, by route family, method and status class',
      'counter',
      () => {
        const totals = new Map<string, Value>();
        for (const s of all()) {
          s.byClass.forEach((n, statusClass) => {
            if (n === 0) return;
            const status = `${statusClass}xx`;
            const key = `${s.family}\u0000${s.method}\u0000${status}`;
            const value = totals.get(key) ?? { labels: { family: s.family, method: s.method, status }, value: 0 };
            value.value += n;
            totals.set(key, value);
          });
        }
        return [...totals.values()];
      },
    );

    const name = 'flotilla_http_request_duration_seconds';
    metric(name, 'Time from request to response, by route family and method', 'histogram', () => {
      const families = new Map<
        string,
        { family: string; method: string; buckets: number[]; sum: number; count: number }
      >();
      for (const s of all()) {
        const key = `${s.family}\u0000${s.method}`;
        let f = families.get(key);
        if (!f) {
          f = { family: s.family, method: s.method, buckets: new Array(BUCKETS.length + 1).fill(0), sum: 0, count: 0 };
          families.set(key, f);
        }
        for (let i = 0; i < s.buckets.length; i++) f.buckets[i] += s.buckets[i];
        f.sum += s.sum;
        f.count += s.count;
      }
      const values: Value[] = [];
      for (const f of families.values()) {
        const labels = { family: f.family, method: f.method };
        let cumulative = 0;
        BUCKETS.forEach((le, i) => {
          cumulative += f.buckets[i];
          values.push({ labels: { le, ...labels }, value: cumulative, metricName: `${name}_bucket` });
        });
        values.push({ labels: { le: '+Inf', ...labels }, value: f.count, metricName: `${name}_bucket` });
        values.push({ labels, value: f.sum, metricName: `${name}_sum` });
        values.push({ labels, value: f.count, metricName: `${name}_count` });
      }
      return values;
    });

    metric('flotilla_device_polls_total', 'Device requests asking for an update, by protocol', 'counter', () => {
      const polls = new Map<string, number>(this.options.protocols.map((p) => [p, 0]));
      for (const s of all()) {
        if (!s.protocol) continue;
        // Polls answered below 400: 2xx and 3xx (1xx is not a final answer).
        polls.set(s.protocol, (polls.get(s.protocol) ?? 0) + s.byClass[2] + s.byClass[3]);
      }
      return [...polls].map(([protocol, value]) => ({ labels: { protocol }, value }));
    });
  }
}

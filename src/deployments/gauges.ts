// The deployments domain's Prometheus gauges: deployments and devices' deployments by status, read at scrape time
// from the tables this domain alone owns. /metrics (src/ops/metrics.ts) only registers them.
import { Gauge, type Registry } from 'prom-client';
import type { DeploymentService } from './service.js';

/** Registers both gauges on `registry`; one scrape asks for the counts once, whichever gauge collects first. */
export function registerDeploymentGauges(
  registry: Registry,
  deployments: Pick<DeploymentService, 'fleetStatusCounts'>,
): void {
  let counts: ReturnType<typeof deployments.fleetStatusCounts> | undefined;
  const fleetCounts = () => {
    counts ??= deployments.fleetStatusCounts().finally(() => {
      counts = undefined;
    });
    return counts;
  };
  new Gauge({
    name: 'flotilla_deployments',
    help: 'Deployments by stored status',
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { status, count } of (await fleetCounts()).deployments) this.set({ status }, count);
    },
  });
  new Gauge({
    name: 'flotilla_device_deployments',
    help: "Devices' deployments by status",
    labelNames: ['status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const { status, count } of (await fleetCounts()).deviceDeployments) this.set({ status }, count);
    },
  });
}

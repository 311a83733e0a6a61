// Device-side update control (the Mender client's update control maps): local applications and the server pause,
// continue or fail an update at ArtifactInstall_Enter, ArtifactReboot_Enter and ArtifactCommit_Enter.
//
// Use from the agent:
//   const control = new UpdateControl({ pollIntervalSeconds, expirationSeconds?, clock?, fetchServerMap? });
//   // POST .../deployments/next with update_control_map: true; then, with the instructions' map (if any):
//   control.set(next.update_control_map, 'server', deploymentId)   // undefined/null: removes that id's maps
//   const outcome = await control.waitUntilDecided('ArtifactInstall_Enter', {
//     deploymentId, signal, onPause: (status) => report(status) })  // status: pause_before_installing|...
//   // outcome: {action: 'continue'} | {action: 'fail', reason}; repeat before reboot and commit
//   control.clear(deploymentId)                                     // when the deployment ends (cleanup)
//   control.clearExpired()                                          // when idle
// - set(map, 'local'|'server', deploymentId?) → refresh interval (s); throws Invalid (nothing changed) on a bad map.
//   Local: replaces that id+priority; empty/all-default states delete it. Server: replaces that id at every priority.
// - decide(state) → 'continue'|'pause'|'fail': one query (moves consulted maps on to on_action_executed).
// - waitUntilDecided(state, {deploymentId, signal, onPause, fetchServerMap}): the whole control point; a pause
//   lifts on a local map update, a server map refresh (fetchServerMap; throw DeploymentGone on 404) or an expiry.
// - refreshIntervalSeconds = expirationSeconds / 2 (default expiration 2 × poll interval); a map not set again
//   within 2 × that expires and then gives its on_map_expire.
// - snapshot()/restore(): keep maps across a simulated reboot (restored maps get bootExpirationSeconds).
// Exposed as io.mender.UpdateManager / io.mender.Update1.SetUpdateControlMap on D-Bus (serveUpdateControlDBus) and
// as a local HTTP API (serveUpdateControlHttp; routes documented in http.ts).
export type { ControlMap, ControlMapState } from '../../deployments/rules/controlmap.js';
export { controlMapStates } from '../../deployments/rules/controlmap.js';
export { type PauseStatus, pauseStatuses } from '../../deployments/rules/status.js';
export { type Clock, ManualClock, systemClock } from './clock.js';
export {
  type DBusServeOptions,
  type DBusUpdateManager,
  failedErrorName,
  serveUpdateControlDBus,
  updateInterfaceName,
  updateManagerBusName,
  updateManagerObjectPath,
} from './dbus.js';
export { type HttpServeOptions, type HttpUpdateControl, serveUpdateControlHttp } from './http.js';
export {
  type ControlAction,
  type ControlMapSnapshot,
  type ControlOutcome,
  DeploymentGone,
  defaultBootExpirationSeconds,
  defaultPollIntervalSeconds,
  fetchRetryDelaySeconds,
  type MapSource,
  type PooledMapView,
  type ServerMapFetcher,
  UpdateControl,
  type UpdateControlOptions,
  type WaitOptions,
} from './update-control.js';

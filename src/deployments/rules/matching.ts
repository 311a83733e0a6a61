// Which artifact of a deployment a device gets: compatibility by device type and depends against what the device
// provides (v2 /next `device_provides`), the tie-break between several matches, and the already-installed and
// noartifact outcomes.

/** What a device says it runs: device_type and artifact_name are mandatory, other keys are free-form provides. */
export interface DeviceProvides {
  device_type: string;
  artifact_name: string;
  [key: string]: string;
}

/** An artifact that may be deployed (the artifacts of the deployment's release). */
export interface CandidateArtifact {
  id: string;
  /** artifact_name inside the artifact. */
  name: string;
  device_types: readonly string[];
  /** artifact_depends merged with the payloads' depends; a list means "any of". */
  depends?: Readonly<Record<string, string | readonly string[]>>;
  size?: number;
}

export interface MatchOptions {
  /**
   * Check depends on the server. Mender's server does not: it matches on device type only and leaves depends to
   * the client, which then fails the update. Flotilla checks by default, because hawkBit and Kanto devices do not.
   */
  checkDepends?: boolean;
}

/**
 * Whether every depends key other than device_type is satisfied by the device's provides (mender 3.4.0
 * app/mender.go verifyArtifactDependencies): the device must provide the key, and its value must equal a string
 * depend or be one of a list's values. An empty list constrains nothing (the artifact format omits empty lists).
 */
export function dependsSatisfied(
  depends: Readonly<Record<string, string | readonly string[]>> | undefined,
  provides: Readonly<Record<string, string>>,
): boolean {
  for (const [key, wanted] of Object.entries(depends ?? {})) {
    if (key === 'device_type') continue;
    if (Array.isArray(wanted) && wanted.length === 0) continue;
    if (!Object.hasOwn(provides, key)) return false;
    const have = provides[key];
    if (Array.isArray(wanted) ? !wanted.includes(have) : wanted !== have) return false;
  }
  return true;
}

/** Device type listed by the artifact (exact string match, as Mender's image query), and depends if checked. */
export function isCompatible(
  artifact: CandidateArtifact,
  provides: DeviceProvides,
  options: MatchOptions = {},
): boolean {
  if (!artifact.device_types.includes(provides.device_type)) return false;
  return options.checkDepends === false || dependsSatisfied(artifact.depends, provides);
}

/**
 * The artifact to give the device, or undefined (→ noartifact). Several matches: the smallest wins, as Mender's
 * store sorts by size (mongo ImageByIdsAndDeviceType); equal sizes fall back to id order so the choice is stable.
 */
export function chooseArtifact(
  candidates: readonly CandidateArtifact[],
  provides: DeviceProvides,
  options: MatchOptions = {},
): CandidateArtifact | undefined {
  let best: CandidateArtifact | undefined;
  for (const candidate of candidates) {
    if (!isCompatible(candidate, provides, options)) continue;
    if (best === undefined || isBetter(candidate, best)) best = candidate;
  }
  return best;
}

function isBetter(candidate: CandidateArtifact, best: CandidateArtifact): boolean {
  const a = candidate.size ?? 0;
  const b = best.size ?? 0;
  return a < b || (a === b && candidate.id < best.id);
}

export type NextDecision =
  /** Send instructions for this artifact. */
  | { kind: 'install'; artifact: CandidateArtifact }
  /** Set the device deployment to already-installed and answer 204. */
  | { kind: 'already-installed'; artifact: CandidateArtifact }
  /** Set it to noartifact and answer 204. */
  | { kind: 'noartifact' };

export interface NextInput {
  provides: DeviceProvides;
  candidates: readonly CandidateArtifact[];
  /** The artifact already assigned to this device deployment by an earlier /next, if any (kept, not re-chosen). */
  assigned?: CandidateArtifact;
  /** The device deployment is still pending (a new attempt): only then can it become already-installed. */
  pending: boolean;
  /** Deployment's force_installation: disables the already-installed check. */
  forceInstallation?: boolean;
  options?: MatchOptions;
}

/**
 * Decision for a device's /next within a deployment (mender-server app/app.go getDeploymentInstructions,
 * app_os.go assignArtifact/isAlreadyInstalled): keep an assigned artifact, else choose one (none → noartifact);
 * already-installed when not forced, the device deployment is pending and the device's artifact_name equals the
 * chosen artifact's name exactly (case-sensitive).
 */
export function decideNext(input: NextInput): NextDecision {
  const artifact = input.assigned ?? chooseArtifact(input.candidates, input.provides, input.options);
  if (artifact === undefined) return { kind: 'noartifact' };
  if (!input.forceInstallation && input.pending && input.provides.artifact_name === artifact.name) {
    return { kind: 'already-installed', artifact };
  }
  return { kind: 'install', artifact };
}

/** A /next request as saved with the device deployment. */
export interface NextRequest {
  device_provides: DeviceProvides;
  update_control_map?: boolean;
}

/**
 * Whether a device asks again during an update with different data than it first sent (app.go
 * saveDeviceDeploymentRequest): Mender then marks the device deployment failed and answers 409 "Device provided
 * conflicting request data" — typically a client whose database was wiped mid-update, which must roll back.
 */
export function requestConflicts(saved: NextRequest, incoming: NextRequest): boolean {
  if (Boolean(saved.update_control_map) !== Boolean(incoming.update_control_map)) return true;
  const a = saved.device_provides;
  const b = incoming.device_provides;
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return true;
  return keys.some((key) => !Object.hasOwn(b, key) || a[key] !== b[key]);
}

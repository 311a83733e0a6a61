// Creating a deployment: a release to all accepted devices, a static group or a saved filter (dynamic: devices that
// match later join), optionally at a start time, in two phases with a failure threshold, with retries, and with
// update control map pauses (the devices wait before a state until the operator continues them).
import { type FormEvent, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, messageOf, useFields } from '../ui';
import { listFilters } from './DeviceFilter';
import { D1 } from './deployment-shared';
import { listReleases } from './Releases';

/** The update control map states a deployment can pause before, as Mender's wizard offers them. */
const PAUSE_STATES = [
  ['ArtifactInstall_Enter', 'Pause before installing'],
  ['ArtifactReboot_Enter', 'Pause before rebooting'],
  ['ArtifactCommit_Enter', 'Pause before committing'],
] as const;

const iso = (local: string) => (local ? new Date(local).toISOString() : undefined);

export function DeploymentWizard({ onCreated }: { onCreated: (name: string) => void }) {
  const releases = useLoad(listReleases, []);
  const groups = useLoad(() => api<string[]>('GET', '/api/management/v1/inventory/groups'), []);
  const filters = useLoad(listFilters, []);
  const empty = {
    release: '',
    target: 'all',
    name: '',
    start: '',
    firstPhase: '',
    secondStart: '',
    threshold: '',
    retries: '',
    pauses: [] as string[],
  };
  const { fields: form, setFields: setForm, field } = useFields(empty);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const deploymentName = form.name || form.release;
    setBusy(true);
    setError(undefined);
    try {
      const body: Record<string, unknown> = { name: deploymentName, artifact_name: form.release };
      const limit = form.threshold ? { failure_threshold: Number(form.threshold) / 100 } : {};
      if (form.firstPhase) {
        // Two phases: the first at the start time (or at once), the rest at the chosen time; each pauses the
        // rollout above the threshold.
        body.phases = [
          { batch_size: Number(form.firstPhase), start_ts: iso(form.start), ...limit },
          { start_ts: iso(form.secondStart), ...limit },
        ];
      } else if (form.start) {
        body.phases = [{ batch_size: 100, start_ts: iso(form.start), ...limit }];
      }
      if (form.retries) body.retries = Number(form.retries);
      if (form.pauses.length > 0) {
        body.update_control_map = {
          priority: 0,
          states: Object.fromEntries(form.pauses.map((s) => [s, { action: 'pause' }])),
        };
      }
      const [kind, value] = form.target.split(':');
      if (kind === 'all') await api('POST', D1, { ...body, all_devices: true });
      else if (kind === 'group') await api('POST', `${D1}/group/${encodeURIComponent(value)}`, body);
      else await api('POST', '/api/management/v2/deployments/deployments', { ...body, filter_id: value });
      setForm({ ...empty, release: form.release, target: form.target });
      onCreated(deploymentName);
    } catch (err) {
      setError(messageOf(err));
    }
    setBusy(false);
  };

  return (
    <form className="create" onSubmit={submit} aria-labelledby="create-title">
      <h2 id="create-title">New deployment</h2>
      <label>
        Release
        <select aria-label="Release" required {...field('release')}>
          <option value="">Choose a release…</option>
          {releases.data?.map((r) => (
            <option key={r.Name} value={r.Name}>
              {r.Name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Devices
        <select aria-label="Devices" {...field('target')}>
          <option value="all">All accepted devices</option>
          {groups.data?.map((g) => (
            <option key={g} value={`group:${g}`}>
              Group {g}
            </option>
          ))}
          {filters.data?.map((f) => (
            <option key={f.id} value={`filter:${f.id}`}>
              Saved filter {f.name}
            </option>
          ))}
        </select>
      </label>
      <label>
        Name
        <input aria-label="Name" placeholder={form.release || 'the release name'} {...field('name')} />
      </label>
      <label>
        Start at (empty: now)
        <input type="datetime-local" step={1} {...field('start')} />
      </label>
      <label>
        Retries per device
        <input type="number" min={0} max={10} {...field('retries')} />
      </label>
      <fieldset>
        <legend>Phased rollout (optional)</legend>
        <label>
          First phase (% of devices)
          <input type="number" min={1} max={99} {...field('firstPhase')} />
        </label>
        <label>
          Second phase starts
          <input type="datetime-local" step={1} required={form.firstPhase !== ''} {...field('secondStart')} />
        </label>
        <label>
          Pause when failures exceed (% of a phase)
          <input type="number" min={1} max={100} {...field('threshold')} />
        </label>
      </fieldset>
      <fieldset>
        <legend>Update control map (Mender clients wait until you continue them)</legend>
        {PAUSE_STATES.map(([state, label]) => (
          <label key={state} className="check">
            <input
              type="checkbox"
              checked={form.pauses.includes(state)}
              onChange={(e) =>
                setForm({
                  ...form,
                  pauses: e.target.checked ? [...form.pauses, state] : form.pauses.filter((p) => p !== state),
                })
              }
            />
            {label}
          </label>
        ))}
      </fieldset>
      <button type="submit" disabled={busy || !form.release}>
        Create deployment
      </button>
      <Alert error={error} />
    </form>
  );
}

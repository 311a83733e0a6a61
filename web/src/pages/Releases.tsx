// Releases and their artifacts; uploading an artifact file (multipart, with a progress bar), generating a
// single-file artifact from a plain file, and creating a Kanto desired state. One release's page is ReleasePage.
import { useRef, useState } from 'react';
import { api, uploadArtifact, uploadForm } from '../api';
import { useLoad } from '../hooks';
import { usePath } from '../router';
import { Head, Link, ListOf, messageOf, type Outcome, OutcomeLine, useAction, useFields } from '../ui';
import { type Artifact, ReleasePage, sizeText } from './ReleasePage';

export interface Release {
  Name: string;
  Artifacts: Artifact[];
  tags?: string[];
  notes?: string;
}

export const listReleases = () => api<Release[]>('GET', '/api/management/v1/deployments/deployments/releases');

export function Releases() {
  const path = usePath();
  const name = path.startsWith('/releases/') ? decodeURIComponent(path.slice('/releases/'.length)) : '';
  return name ? <ReleasePage name={name} /> : <ReleaseList />;
}

function ReleaseList() {
  const releases = useLoad(listReleases, []);
  return (
    <section aria-labelledby="releases-title">
      <h1 id="releases-title">Releases</h1>
      <Upload onDone={releases.reload} />
      <details>
        <summary>Generate a single-file artifact</summary>
        <Generate onDone={releases.reload} />
      </details>
      <details>
        <summary>New Kanto desired state</summary>
        <DesiredState onDone={releases.reload} />
      </details>
      <ListOf
        loaded={releases}
        empty={
          <div className="empty">
            <h2>No releases yet</h2>
            <p>
              Upload a Mender artifact above. Make one with <code>mender-artifact write module-image</code> (e.g. the{' '}
              <code>single-file</code> update module) or <code>mender-artifact write rootfs-image</code>, or generate
              one from a plain file.
            </p>
          </div>
        }
      >
        {(items) => (
          <table aria-label="Releases">
            <Head columns={['Release', 'Artifact', 'Device types', 'Update type', 'Size', 'Signed']} />
            <tbody>
              {items.flatMap((r) =>
                r.Artifacts.map((a, i) => (
                  <tr key={a.id} data-release={r.Name}>
                    {i === 0 && (
                      <th scope="row" rowSpan={r.Artifacts.length}>
                        <Link to={`/releases/${encodeURIComponent(r.Name)}`}>{r.Name}</Link>
                        {r.tags && r.tags.length > 0 && <span className="tags"> {r.tags.join(', ')}</span>}
                      </th>
                    )}
                    <td className="mono">{a.id}</td>
                    <td>{a.device_types_compatible.join(', ')}</td>
                    <td>{a.updates?.map((u) => u.type_info?.type ?? 'rootfs-image').join(', ')}</td>
                    <td>{sizeText(a.size)}</td>
                    <td>{a.signed ? 'yes' : 'no'}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        )}
      </ListOf>
    </section>
  );
}

/** Sends a form with a progress bar; says what happened. */
function useUpload(onDone: () => void) {
  const [progress, setProgress] = useState<number>();
  const [outcome, setOutcome] = useState<Outcome>();
  const run = async (label: string, send: (onProgress: (f: number) => void) => Promise<void>) => {
    setOutcome(undefined);
    setProgress(0);
    try {
      await send(setProgress);
      setOutcome({ text: label, error: false });
      onDone();
    } catch (e) {
      setOutcome({ text: `Upload failed: ${messageOf(e)}`, error: true });
    }
    setProgress(undefined);
  };
  const bar = progress !== undefined && (
    <progress aria-label="Upload progress" max={1} value={progress}>
      {Math.round(progress * 100)}%
    </progress>
  );
  return { busy: progress !== undefined, bar, outcome, run };
}

function Upload({ onDone }: { onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const upload = useUpload(onDone);
  return (
    <form
      className="upload"
      onSubmit={(e) => {
        e.preventDefault();
        const file = input.current?.files?.[0];
        if (!file) return;
        upload.run(`Uploaded ${file.name}.`, async (onProgress) => {
          await uploadArtifact(file, onProgress);
          if (input.current) input.current.value = '';
        });
      }}
    >
      <label>
        Artifact file (.mender)
        <input ref={input} type="file" accept=".mender" required disabled={upload.busy} />
      </label>
      <button type="submit" disabled={upload.busy}>
        Upload
      </button>
      {upload.bar}
      <OutcomeLine outcome={upload.outcome} />
    </form>
  );
}

/** `artifacts/generate`: the server wraps a plain file in a single-file module-image artifact. */
function Generate({ onDone }: { onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const { fields, field } = useFields({ name: '', types: '', dir: '/', description: '' });
  const upload = useUpload(onDone);
  return (
    <form
      className="create"
      onSubmit={(e) => {
        e.preventDefault();
        const file = input.current?.files?.[0];
        if (!file) return;
        const form = new FormData();
        form.append('name', fields.name);
        form.append('description', fields.description);
        form.append('device_types_compatible', fields.types);
        form.append('type', 'single_file');
        form.append('args', JSON.stringify({ dest_dir: fields.dir, filename: file.name }));
        form.append('file', file, file.name);
        upload.run(`Generated ${fields.name}.`, (p) =>
          uploadForm('/api/management/v1/deployments/artifacts/generate', form, p),
        );
      }}
    >
      <label>
        File to install
        <input ref={input} type="file" required disabled={upload.busy} />
      </label>
      <label>
        Artifact name
        <input required {...field('name')} />
      </label>
      <label>
        Device types (comma-separated)
        <input required {...field('types')} />
      </label>
      <label>
        Destination folder on the device
        <input required {...field('dir')} />
      </label>
      <label>
        Description
        <input {...field('description')} />
      </label>
      <button type="submit" disabled={upload.busy}>
        Generate artifact
      </button>
      {upload.bar}
      <OutcomeLine outcome={upload.outcome} />
    </form>
  );
}

const SAMPLE_STATE = JSON.stringify(
  { domains: [{ id: 'containers', components: [{ id: 'hello-world', version: '1.0.0' }] }] },
  null,
  2,
);

/** A Kanto desired state (containers and their configuration), stored as an artifact and deployed like any other. */
function DesiredState({ onDone }: { onDone: () => void }) {
  const { fields, field } = useFields({ name: '', version: '', types: '', state: SAMPLE_STATE });
  const { outcome, setOutcome, act } = useAction(onDone);
  return (
    <form
      className="create"
      onSubmit={(e) => {
        e.preventDefault();
        let desired_state: unknown;
        try {
          desired_state = JSON.parse(fields.state);
        } catch {
          setOutcome({ text: 'The desired state must be a JSON document.', error: true });
          return;
        }
        act(`Desired state ${fields.name} ${fields.version} created.`, () =>
          api('POST', '/api/kanto/v1/desired-states', {
            name: fields.name,
            version: fields.version,
            device_types_compatible: fields.types
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean),
            desired_state,
          }),
        );
      }}
    >
      <label>
        Desired state name
        <input required {...field('name')} />
      </label>
      <label>
        Version
        <input required {...field('version')} />
      </label>
      <label>
        Kanto device types (comma-separated)
        <input required {...field('types')} />
      </label>
      <label>
        Desired state (JSON)
        <textarea rows={6} cols={50} required {...field('state')} />
      </label>
      <button type="submit">Create desired state</button>
      <OutcomeLine outcome={outcome} />
    </form>
  );
}

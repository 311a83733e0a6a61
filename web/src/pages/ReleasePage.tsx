// One release: its notes and tags (editable), and each artifact's details — what it provides and depends on, its
// payload files, whether it is signed — and, for a Kanto desired state, the state itself.
import { useEffect, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, Head, Link, OutcomeLine, useAction } from '../ui';

export interface Artifact {
  id: string;
  name: string;
  description?: string;
  device_types_compatible: string[];
  size?: number;
  signed?: boolean;
  modified?: string;
  info?: { format: string; version: number };
  updates?: {
    type_info?: { type?: string | null };
    files?: { name: string; checksum: string; size: number }[];
    metadata?: Record<string, unknown>;
  }[];
  artifact_provides?: Record<string, string>;
  artifact_depends?: Record<string, string[]>;
  clears_artifact_provides?: string[];
}
interface ReleaseV2 {
  name: string;
  artifacts: Artifact[];
  notes: string;
  tags: string[];
}

const V2 = '/api/management/v2/deployments/deployments/releases';

export const sizeText = (bytes?: number) =>
  bytes === undefined
    ? ''
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1048576).toFixed(1)} MiB`;

export function ReleasePage({ name }: { name: string }) {
  const path = `${V2}/${encodeURIComponent(name)}`;
  const release = useLoad(() => api<ReleaseV2>('GET', path), [path]);
  const [notes, setNotes] = useState('');
  const [tags, setTags] = useState('');
  const { outcome, act } = useAction(release.reload);
  useEffect(() => {
    if (!release.data) return;
    setNotes(release.data.notes);
    setTags(release.data.tags.join(', '));
  }, [release.data]);

  return (
    <section aria-labelledby="release-title">
      <p>
        <Link to="/releases">← All releases</Link>
      </p>
      <h1 id="release-title">Release {name}</h1>
      <Alert error={release.error} />
      {release.data && (
        <form
          className="create"
          aria-label="Notes and tags"
          onSubmit={(e) => {
            e.preventDefault();
            const list = tags
              .split(',')
              .map((t) => t.trim())
              .filter(Boolean);
            act('Notes and tags saved.', async () => {
              await api('PATCH', path, { notes });
              await api('PUT', `${path}/tags`, list);
            });
          }}
        >
          <label>
            Release notes
            <textarea rows={3} cols={60} maxLength={1024} value={notes} onChange={(e) => setNotes(e.target.value)} />
          </label>
          <label>
            Tags (comma-separated)
            <input value={tags} onChange={(e) => setTags(e.target.value)} />
          </label>
          <button type="submit">Save notes and tags</button>
          <OutcomeLine outcome={outcome} />
        </form>
      )}
      {release.data?.artifacts.map((a) => (
        <ArtifactDetails key={a.id} artifact={a} />
      ))}
    </section>
  );
}

function Pairs({ label, map }: { label: string; map?: Record<string, unknown> }) {
  const entries = Object.entries(map ?? {});
  return (
    <>
      <dt>{label}</dt>
      <dd className="mono">
        {entries.length === 0
          ? 'none'
          : entries.map(([k, v]) => (
              <div key={k}>
                {k}: {Array.isArray(v) ? v.join(', ') : String(v)}
              </div>
            ))}
      </dd>
    </>
  );
}

function ArtifactDetails({ artifact: a }: { artifact: Artifact }) {
  const types = (a.updates ?? []).map((u) => u.type_info?.type ?? 'rootfs-image');
  const isDesiredState = types.includes('kanto-desired-state');
  const state = useLoad(
    () =>
      isDesiredState
        ? api<{ desired_state: unknown }>('GET', `/api/kanto/v1/desired-states/${a.id}`)
        : Promise.resolve(undefined),
    [a.id, isDesiredState],
  );
  const files = (a.updates ?? []).flatMap((u) => u.files ?? []);
  return (
    <section aria-label={`Artifact ${a.id}`} className="artifact">
      <h2>
        Artifact <span className="mono">{a.id}</span>
      </h2>
      <dl className="facts">
        <dt>Name</dt>
        <dd>{a.name}</dd>
        <dt>Description</dt>
        <dd>{a.description || 'none'}</dd>
        <dt>Device types</dt>
        <dd>{a.device_types_compatible.join(', ')}</dd>
        <dt>Format</dt>
        <dd>{a.info ? `${a.info.format} v${a.info.version}` : ''}</dd>
        <dt>Update types</dt>
        <dd>{types.join(', ')}</dd>
        <dt>Signature</dt>
        <dd data-testid="artifact-signed">{a.signed ? 'signed' : 'not signed'}</dd>
        <dt>Size</dt>
        <dd>{sizeText(a.size)}</dd>
        <Pairs label="Provides" map={a.artifact_provides} />
        <Pairs label="Depends" map={a.artifact_depends} />
        <dt>Clears provides</dt>
        <dd className="mono">{(a.clears_artifact_provides ?? []).join(', ') || 'none'}</dd>
      </dl>
      {files.length > 0 && (
        <table aria-label={`Payload files of ${a.id}`}>
          <Head columns={['Payload file', 'Size', 'SHA-256']} />
          <tbody>
            {files.map((f) => (
              <tr key={f.name}>
                <td>{f.name}</td>
                <td>{sizeText(f.size)}</td>
                <td className="mono">{f.checksum}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {isDesiredState && state.data && (
        <>
          <h3>Desired state</h3>
          <pre className="log">{JSON.stringify(state.data.desired_state, null, 2)}</pre>
        </>
      )}
    </section>
  );
}

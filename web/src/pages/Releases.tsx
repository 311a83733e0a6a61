// Releases and their artifacts, and uploading an artifact file (multipart, with a progress bar).
import { useRef, useState } from 'react';
import { api, uploadArtifact } from '../api';
import { useLoad } from '../hooks';

interface Artifact {
  id: string;
  name: string;
  description?: string;
  device_types_compatible: string[];
  size?: number;
  signed?: boolean;
  modified?: string;
  updates?: { type_info?: { type?: string | null } }[];
}
export interface Release {
  Name: string;
  Artifacts: Artifact[];
  tags?: string[];
}

export const listReleases = () => api<Release[]>('GET', '/api/management/v1/deployments/deployments/releases');

const sizeText = (bytes?: number) =>
  bytes === undefined
    ? ''
    : bytes < 1024 * 1024
      ? `${(bytes / 1024).toFixed(1)} KiB`
      : `${(bytes / 1048576).toFixed(1)} MiB`;

export function Releases() {
  const releases = useLoad(listReleases, []);
  return (
    <section aria-labelledby="releases-title">
      <h1 id="releases-title">Releases</h1>
      <Upload onDone={releases.reload} />
      {releases.error && (
        <p role="alert" className="error">
          {releases.error}
        </p>
      )}
      {releases.data?.length === 0 && (
        <div className="empty">
          <h2>No releases yet</h2>
          <p>
            Upload a Mender artifact above. Make one with <code>mender-artifact write module-image</code> (e.g. the{' '}
            <code>single-file</code> update module) or <code>mender-artifact write rootfs-image</code>.
          </p>
        </div>
      )}
      {releases.data && releases.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Release</th>
              <th scope="col">Artifact</th>
              <th scope="col">Device types</th>
              <th scope="col">Update type</th>
              <th scope="col">Size</th>
              <th scope="col">Signed</th>
            </tr>
          </thead>
          <tbody>
            {releases.data.flatMap((r) =>
              r.Artifacts.map((a, i) => (
                <tr key={a.id} data-release={r.Name}>
                  {i === 0 && (
                    <th scope="row" rowSpan={r.Artifacts.length}>
                      {r.Name}
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
    </section>
  );
}

function Upload({ onDone }: { onDone: () => void }) {
  const input = useRef<HTMLInputElement>(null);
  const [progress, setProgress] = useState<number>();
  const [message, setMessage] = useState<{ text: string; error: boolean }>();

  const upload = async () => {
    const file = input.current?.files?.[0];
    if (!file) return;
    setMessage(undefined);
    setProgress(0);
    try {
      await uploadArtifact(file, setProgress);
      setMessage({ text: `Uploaded ${file.name}.`, error: false });
      if (input.current) input.current.value = '';
      onDone();
    } catch (e) {
      setMessage({ text: `Upload failed: ${e instanceof Error ? e.message : String(e)}`, error: true });
    }
    setProgress(undefined);
  };

  return (
    <form
      className="upload"
      onSubmit={(e) => {
        e.preventDefault();
        upload();
      }}
    >
      <label>
        Artifact file (.mender)
        <input ref={input} type="file" accept=".mender" required disabled={progress !== undefined} />
      </label>
      <button type="submit" disabled={progress !== undefined}>
        Upload
      </button>
      {progress !== undefined && (
        <progress aria-label="Upload progress" max={1} value={progress}>
          {Math.round(progress * 100)}%
        </progress>
      )}
      {message && (
        <p role={message.error ? 'alert' : 'status'} className={message.error ? 'error' : undefined}>
          {message.text}
        </p>
      )}
    </form>
  );
}

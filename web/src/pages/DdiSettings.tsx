// The tenant's hawkBit DDI settings (/api/ddi/v1/settings): the gateway token (set or cleared, never shown back),
// how new targets are admitted, their default device type, and the polling interval DDI targets are told.
import { useEffect, useState } from 'react';
import { api } from '../api';
import { useLoad } from '../hooks';
import { Alert, OutcomeLine, useAction } from '../ui';

const SETTINGS = '/api/ddi/v1/settings';

interface Ddi {
  gateway_token_set: boolean;
  anonymous: boolean;
  auto_accept: boolean;
  auto_confirm: boolean;
  default_device_type: string;
  polling_sleep: number;
}
type Flag = 'anonymous' | 'auto_accept' | 'auto_confirm';

const FLAGS: [Flag, string][] = [
  ['auto_accept', 'Accept new targets at once'],
  ['auto_confirm', 'Confirm actions for targets (off: each target confirms its action)'],
  ['anonymous', 'Allow anonymous downloads'],
];

export function DdiSettings() {
  const settings = useLoad(() => api<Ddi>('GET', SETTINGS), []);
  const [form, setForm] = useState<Ddi>();
  const [gatewayToken, setGatewayToken] = useState('');
  const { outcome, act } = useAction(settings.reload);
  useEffect(() => setForm(settings.data), [settings.data]);
  const save = (body: Record<string, unknown>, label: string) =>
    act(label, () => api('PUT', SETTINGS, body)).then((ok) => ok && setGatewayToken(''));

  return (
    <section aria-labelledby="ddi-title">
      <h2 id="ddi-title">hawkBit DDI</h2>
      <p>
        DDI targets (e.g. SWUpdate's suricatta) poll{' '}
        <span className="mono">{window.location.origin}/TENANT/controller/v1/CONTROLLER_ID</span> with their target
        token, or with the gateway token below.
      </p>
      <Alert error={settings.error} />
      {form && (
        <form
          className="create"
          aria-label="DDI settings"
          onSubmit={(e) => {
            e.preventDefault();
            const body: Record<string, unknown> = {
              auto_accept: form.auto_accept,
              auto_confirm: form.auto_confirm,
              anonymous: form.anonymous,
              default_device_type: form.default_device_type,
              polling_sleep: form.polling_sleep,
            };
            if (gatewayToken) body.gateway_token = gatewayToken;
            save(body, 'DDI settings saved.');
          }}
        >
          <p data-testid="gateway-token-state">Gateway token: {form.gateway_token_set ? 'set' : 'not set'}</p>
          <label>
            New gateway token (at least 8 characters)
            <input
              type="password"
              autoComplete="off"
              minLength={8}
              value={gatewayToken}
              onChange={(e) => setGatewayToken(e.target.value)}
            />
          </label>
          <label>
            Polling interval (seconds)
            <input
              type="number"
              min={1}
              max={86400}
              required
              value={form.polling_sleep}
              onChange={(e) => setForm({ ...form, polling_sleep: Number(e.target.value) })}
            />
          </label>
          <label>
            Default device type
            <input
              required
              value={form.default_device_type}
              onChange={(e) => setForm({ ...form, default_device_type: e.target.value })}
            />
          </label>
          {FLAGS.map(([key, label]) => (
            <label key={key} className="check">
              <input
                type="checkbox"
                checked={form[key]}
                onChange={(e) => setForm({ ...form, [key]: e.target.checked })}
              />
              {label}
            </label>
          ))}
          <button type="submit">Save DDI settings</button>
          {form.gateway_token_set && (
            <button
              type="button"
              className="danger"
              onClick={() => save({ gateway_token: null }, 'Gateway token removed.')}
            >
              Remove gateway token
            </button>
          )}
        </form>
      )}
      <OutcomeLine outcome={outcome} />
    </section>
  );
}

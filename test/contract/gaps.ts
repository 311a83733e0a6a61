// Operations of the official useradm, deviceauth and inventory specs that Flotilla does not serve (yet), each with
// the reason. routes.test.ts keeps this list exact: serving one of them, or dropping another, fails until updated.
const DEVICEAUTH_PENDING =
  'Not written yet: src/api/mender/deviceauth.ts was still empty when the contract test was written. Remove ' +
  'each entry as the route lands (test/contract/deviceauth.test.ts then runs instead of skipping).';

export const notImplemented: Record<string, string> = {
  'POST /api/devices/v1/authentication/auth_requests': DEVICEAUTH_PENDING,
  'GET /api/management/v2/devauth/devices': DEVICEAUTH_PENDING,
  'POST /api/management/v2/devauth/devices': DEVICEAUTH_PENDING,
  'POST /api/management/v2/devauth/devices/search': DEVICEAUTH_PENDING,
  'GET /api/management/v2/devauth/devices/{id}': DEVICEAUTH_PENDING,
  'DELETE /api/management/v2/devauth/devices/{id}': DEVICEAUTH_PENDING,
  'DELETE /api/management/v2/devauth/devices/{id}/auth/{aid}': DEVICEAUTH_PENDING,
  'GET /api/management/v2/devauth/devices/{id}/auth/{aid}/status': DEVICEAUTH_PENDING,
  'PUT /api/management/v2/devauth/devices/{id}/auth/{aid}/status': DEVICEAUTH_PENDING,
  'GET /api/management/v2/devauth/devices/count': DEVICEAUTH_PENDING,
  'DELETE /api/management/v2/devauth/tokens/{id}': DEVICEAUTH_PENDING,
  'GET /api/management/v2/devauth/limits/max_devices': DEVICEAUTH_PENDING,
  'GET /api/management/v1/useradm/plan_binding':
    'Enterprise billing (the tenant plan and its trial binding); Flotilla has no plans. GET /plans answers [].',
};

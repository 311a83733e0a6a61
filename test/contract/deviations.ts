// Every written-down difference between Flotilla's Mender routes and the official flat specs
// (../shared/specs/mender beside the checkout). Anything not listed here that differs from a spec is a bug.
import type { SpecPatch } from '../support/contract.js';

const savedFiltersReason =
  'Saved inventory filters (dynamic groups) are an Enterprise feature of the inventory service: no public spec ' +
  'has them (the flat inventory-management-v2.yml has only filters/attributes and filters/search), and, unlike ' +
  'what specs/mender/SOURCES.md says, seed 001 does not document them either. The paths are the ones the Mender ' +
  'GUI calls (mendersoftware/gui: getDynamicGroups GET {inventoryApiUrlV2}/filters, DELETE /filters/:filterId).';

/**
 * Routes under /api/management/ or /api/devices/ that are in no flat spec, keyed `METHOD /path/{param}`, with the
 * reason. Enterprise-only endpoints are documented in ../shared/seeds/001_04e9a76ae7f6d9d4.txt.
 */
const enterpriseDeploymentsReason =
  'Enterprise deployments API (update control maps, v2 next with provides, filter deployments): documented in ' +
  '../shared/seeds/001_04e9a76ae7f6d9d4.txt, absent from the flat specs (see specs/mender/SOURCES.md).';

const iotManagerReason =
  "Mender's open-source iot-manager (mender-server backend/services/iot-manager/api/http/router.go) has no flat " +
  'spec here. Flotilla has no integrations: the lists are empty, creation answers 501 with the reason, every ' +
  'integration id is unknown (src/protocols/mender/iot-manager.ts). The web GUI reads the list on every page load.';

const tenantadmReason =
  "tenantadm is Enterprise (docs.mender.io/api/tenant-info); Mender's web GUI with Enterprise features on reads " +
  "the caller's tenant from it. Answered with the tenant descriptor (id, name, tenant_token, status) of the open " +
  "edition's tenant (src/protocols/mender/tenantadm.ts).";

const deviceMonitorReason =
  'Mender devicemonitor is Enterprise-only and has no public server spec. Device routes follow seed 001 ' +
  '("Device monitor": POST /alert takes a list of Alert, POST /config a list of MonitorConfiguration, both 204); ' +
  'management routes and their answers follow @northern.tech/types 0.5.0 (ListAlertsData, ListLatestAlertsData, ' +
  'MonitorChecksConfigurationData: Alert[] / MonitorConfiguration[], paged with X-Total-Count and Link). ' +
  'Shapes Flotilla chose are written down in src/protocols/mender/devicemonitor.ts.';

const auditLogsReason =
  'Mender auditlogs is Enterprise-only and has no public server spec or code. Routes, query parameters and the ' +
  'AuditLog shape follow seed 001 ("Audit Logs service") and @northern.tech/types: GET /logs answers AuditLog[] ' +
  '({actor: {id, type, email?}, time, action, object: {id, type, user?, deployment?, artifact?, device?}, change?, ' +
  'meta?}) paged with X-Total-Count and Link; created_before/created_after are inclusive Unix seconds. GET ' +
  '/logs/export streams text/csv whose columns are the JSON paths of an entry (Mender does not publish its ' +
  'columns), honouring limit, format_separator and ignore. Flotilla adds the actions accept and revoke and the ' +
  'object types personal_access_token, release and role. All written down in src/protocols/mender/auditlogs.ts ' +
  'and src/audit/csv.ts.';

const fleetMonitorReason =
  "Flotilla's own: the fleet's alerting devices, which Mender serves only on its internal API " +
  '(GET /api/internal/v1/devicemonitor/tenants/{tenant_id}/devices). Same answer shape (MonitorDevice[]: id, ' +
  'alerts_open_count, alerts_total_count, alerts), under the management prefix with a user token, paged.';

const rolesReason =
  'Roles and permission sets are Enterprise useradm (RBAC); the open-source spec has none. Paths and shapes follow ' +
  '@northern.tech/types 0.5.0 (ListRolesV1Data, CreateRoleData, ShowRoleData, UpdateRoleData, DeleteRoleData, ' +
  'ListPermissionSetsData, GetPermissionSetData) and the Mender GUI, which addresses a role by its name and sends ' +
  '{name, description, permission_sets_with_scope} to v2. Flotilla takes and answers that shape on v1 and v2, ' +
  'refuses raw `permissions` (action/object), answers 400 for a change to a built-in role, and serves permission ' +
  'sets read-only (its built-in sets are the only ones). Written down in src/protocols/mender/roles.ts.';

export const undocumentedRoutes: Record<string, string> = {
  ...Object.fromEntries(
    ['v1', 'v2']
      .flatMap((v) => [
        `GET /api/management/${v}/useradm/roles`,
        `POST /api/management/${v}/useradm/roles`,
        `GET /api/management/${v}/useradm/roles/{id}`,
        `PUT /api/management/${v}/useradm/roles/{id}`,
        `DELETE /api/management/${v}/useradm/roles/{id}`,
      ])
      .concat(['GET /api/management/v2/useradm/permission_sets', 'GET /api/management/v2/useradm/permission_sets/{id}'])
      .map((route) => [route, rolesReason]),
  ),
  'GET /api/management/v1/auditlogs/logs': auditLogsReason,
  'GET /api/management/v1/auditlogs/logs/export': auditLogsReason,
  ...Object.fromEntries(
    ['GET /api/management/v1/deviceconnect/settings', 'PUT /api/management/v1/deviceconnect/settings'].map((route) => [
      route,
      "Flotilla's per-tenant switches for terminal, file transfer and port forward (issue 12). Mender keeps these " +
        "in Enterprise RBAC roles and in each device's mender-connect.conf; no public route exists to copy.",
    ]),
  ),
  ...Object.fromEntries(
    [
      'GET /api/management/v1/iot-manager/integrations',
      'POST /api/management/v1/iot-manager/integrations',
      'GET /api/management/v1/iot-manager/integrations/{id}',
      'DELETE /api/management/v1/iot-manager/integrations/{id}',
      'PUT /api/management/v1/iot-manager/integrations/{id}/credentials',
      'GET /api/management/v1/iot-manager/devices/{id}/state',
      'GET /api/management/v1/iot-manager/devices/{id}/state/{integrationId}',
      'PUT /api/management/v1/iot-manager/devices/{id}/state/{integrationId}',
      'GET /api/management/v1/iot-manager/events',
    ].map((route) => [route, iotManagerReason]),
  ),
  'GET /api/management/v1/tenantadm/user/tenant': tenantadmReason,
  ...Object.fromEntries(
    [
      'POST /api/devices/v1/devicemonitor/alert',
      'POST /api/devices/v1/devicemonitor/config',
      'GET /api/management/v1/devicemonitor/devices/{id}/alerts',
      'GET /api/management/v1/devicemonitor/devices/{id}/alerts/latest',
      'GET /api/management/v1/devicemonitor/devices/{id}/config',
    ].map((route) => [route, deviceMonitorReason]),
  ),
  'GET /api/management/v1/devicemonitor/devices': fleetMonitorReason,
  ...Object.fromEntries(
    [
      'POST /api/management/v2/inventory/filters',
      'GET /api/management/v2/inventory/filters',
      'GET /api/management/v2/inventory/filters/{id}',
      'DELETE /api/management/v2/inventory/filters/{id}',
      'GET /api/management/v2/inventory/filters/{id}/search',
    ].map((route) => [route, savedFiltersReason]),
  ),
  ...Object.fromEntries(
    [
      'PATCH /api/management/v1/deployments/deployments/{id}',
      'POST /api/management/v2/deployments/deployments',
      'POST /api/devices/v1/deployments/device/deployments/next',
      'POST /api/devices/v2/deployments/device/deployments/next',
      'GET /api/devices/v2/deployments/device/deployments/{id}/update_control_map',
    ].map((route) => [route, enterpriseDeploymentsReason]),
  ),
};

const scalarOrArray = [
  { type: 'string' },
  { type: 'number' },
  { type: 'array', items: { type: 'string' } },
  { type: 'array', items: { type: 'number' } },
];

const emptyArrayReason =
  'The spec lists "array of strings" and "array of numbers" under `oneOf`; an empty array is both, so `oneOf` ' +
  'rejects `[]`, which the description ("array of numbers, array of strings") allows and real clients send (an ' +
  'inventory script printing nothing for a key). `anyOf` says what the description says.';

/** Corrections to the spec text, applied before checking. Only where the spec itself is wrong or ambiguous. */
export const specPatches: SpecPatch[] = [
  {
    file: 'deviceauth-devices-v1.yml',
    at: ['paths', '/api/devices/v1/authentication/auth_requests', 'post', 'responses', '200', 'content'],
    value: { 'application/jwt': { schema: { type: 'string' } } },
    reason:
      'The spec says 200 `application/json` with a string schema, i.e. a JSON-quoted token. The real deviceauth ' +
      'writes the bare token with `Content-Type: application/jwt` (mender-server backend/services/deviceauth/api/' +
      'http/api_devauth.go, SubmitAuthRequestHandler), and mender-client uses the body as the token verbatim, so a ' +
      'JSON-quoted token would break every real device (REAL-CLIENTS.md). The login operation of useradm declares ' +
      'application/jwt for the same kind of answer.',
  },
  {
    file: 'useradm-management-v1.yml',
    at: ['paths', '/api/management/v1/useradm/settings/tokens', 'post', 'responses', '200', 'content'],
    value: { 'application/jwt': { schema: { type: 'string' } } },
    reason:
      'Same as login, but the spec forgot it here: it declares 200 `application/json` with a string schema (a ' +
      'JSON-quoted token), while the real useradm writes the bare token with `Content-Type: application/jwt` ' +
      '(mender-server backend/services/useradm/api/http/api_useradm.go, IssueTokenHandler), and the login operation ' +
      'of the same spec declares application/jwt for the same kind of answer. mender-cli and scripts use the body ' +
      'as the token verbatim.',
  },
  {
    file: 'useradm-management-v1.yml',
    at: ['components', 'schemas', 'PersonalAccessToken', 'required'],
    value: ['created_ts', 'id', 'name'],
    reason:
      'The spec makes `expiration_date` required, yet the same spec lets a token be created with `expires_in` 0 or ' +
      'omitted: "the Personal Access Token will never expire", so there is no date to give. The real useradm ' +
      'leaves the field out for such tokens (model/token.go: `expiration_date,omitempty` on a nil pointer).',
  },
  {
    file: 'useradm-management-v1.yml',
    at: ['paths', '/api/management/v1/useradm/users', 'get', 'responses', '400'],
    value: { $ref: '#/components/responses/InvalidRequestError' },
    reason:
      'The spec declares no 400 for listing users although its query parameters are typed (created_after etc. ' +
      'are integers). The real useradm answers 400 "api: invalid form values" for a malformed filter ' +
      '(api_useradm.go, GetUsersHandler), which is what a typed query deserves; the spec simply omits it.',
  },
  ...['inventory-management-v1.yml', 'inventory-management-v2.yml', 'inventory-management-v2alpha1.yml'].map(
    (file): SpecPatch => ({
      file,
      at: ['components', 'schemas', 'AttributeValueResponse'],
      value: { anyOf: [{ type: 'boolean' }, ...scalarOrArray] },
      reason: emptyArrayReason,
    }),
  ),
  {
    file: 'inventory-devices-v1.yml',
    at: ['components', 'schemas', 'AttributeValueRequest'],
    value: { anyOf: scalarOrArray },
    reason: emptyArrayReason,
  },
  {
    file: 'inventory-management-v2.yml',
    at: ['components', 'schemas', 'FilterPredicate', 'properties', 'value'],
    value: { anyOf: [{ type: 'boolean' }, ...scalarOrArray] },
    reason:
      "FilterPredicate.value is `allOf: [AttributeValueRequest]`, which has no boolean, yet the same property's " +
      'description says "The $exists operator expects a boolean value". The schema contradicts its own text; the ' +
      'text is what the real inventory service implements. (Also `anyOf` for the empty-array reason above.)',
  },
  {
    file: 'deviceconfig-management-v1.yml',
    at: ['paths', '/api/management/v1/deviceconfig/configurations/device/{deviceId}', 'put', 'responses', '404'],
    value: { $ref: '#/components/responses/NotFound' },
    reason:
      "Mender's deviceconfig upserts a record for any id it is given, so its PUT never answers 404 and a typo in a " +
      'device id leaves an orphan configuration behind. Flotilla keeps configurations of devices that exist in the ' +
      'tenant only (a foreign key to the device) and answers 404 NotFound, as the GET and deploy of the same path do.',
  },
];

const deploymentHandlingReason =
  'Flotilla: how hawkBit DDI devices handle a deployment (src/deployments/rules/handling.ts): action_type ' +
  'forced|soft|timeforced|downloadonly, force_time (timeforced), maintenance_window {schedule (Quartz cron), ' +
  "duration HH:mm:ss, timezone +HH:mm} — hawkBit's assignment options, which DDI shows as deploymentBase " +
  'download/update/maintenanceWindow. Mender has no such fields: optional, absent means forced with no window ' +
  '(what Mender does), and Mender devices ignore them (their way to hold an install is the update control map).';

/**
 * Fields Flotilla takes or answers beyond a Mender spec's schema, keyed `file#Schema.field`, with the reason. The
 * contract tests check each is really absent from that schema (else it is no deviation).
 */
export const extraFields: Record<string, string> = {
  ...Object.fromEntries(
    ['NewDeployment', 'NewDeploymentForGroup', 'DeploymentV1'].flatMap((schema) =>
      ['action_type', 'force_time', 'maintenance_window'].map((field) => [
        `deployments-management-v1.yml#${schema}.${field}`,
        deploymentHandlingReason,
      ]),
    ),
  ),
  ...Object.fromEntries(
    ['UserNew', 'UserUpdate', 'User'].map((schema) => [
      `useradm-management-v1.yml#${schema}.roles`,
      'Role names as Mender Enterprise takes and shows them (@northern.tech/types UserNew, UserUpdate, User: ' +
        '`roles?: string[]`); the open-source spec has no RBAC. Absent on create: RBAC_ROLE_PERMIT_ALL; absent on ' +
        'update: kept. The Mender GUI reads `roles` from users and users/me to decide what to offer.',
    ]),
  ),
};

/**
 * Behaviour (not shapes) that differs from Mender on purpose, keyed `METHOD /path`, with the reason; the tests named
 * in each reason hold Flotilla to it.
 */
export const behaviourDeviations: Record<string, string> = {
  'POST /api/management/v1/deployments/artifacts/directupload/{id}/complete':
    'Completing an upload that already became an artifact answers 202 again (Mender: 404, the link is no longer ' +
    'pending). A completion is cut by a lost answer or a crash just as an upload is; asked again it must find the ' +
    'artifact it made rather than a 404 that reads as "your upload is gone" (issue 18 point 7; ' +
    'src/protocols/mender/directupload.test.ts, test/reliability/crash.test.ts).',
  'PUT /api/uploads/v1/{tenant}/artifacts/{id}':
    "A direct upload's bytes count in the tenant's storage use from this PUT until the upload completes or is " +
    'abandoned, and the PUT is refused (400, "artifact storage limit exceeded") past the limit. Mender counts ' +
    "only artifacts; an operator could park any amount in uploads never completed (issue 18 point 7). Mender's " +
    'link request names no size, so the bytes are counted as they arrive (test/reliability/blob-accounting.test.ts).',
};

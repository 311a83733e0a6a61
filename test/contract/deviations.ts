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

export const undocumentedRoutes: Record<string, string> = {
  ...Object.fromEntries(
    ['GET /api/management/v1/deviceconnect/settings', 'PUT /api/management/v1/deviceconnect/settings'].map((route) => [
      route,
      "Flotilla's per-tenant switches for terminal, file transfer and port forward (issue 12). Mender keeps these " +
        "in Enterprise RBAC roles and in each device's mender-connect.conf; no public route exists to copy.",
    ]),
  ),
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
];

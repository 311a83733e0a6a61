// The rules Mender's useradm applies to emails, passwords, settings documents and personal access token requests.
// Pure functions: no store, no clock. Messages follow Mender's wording so that clients see familiar errors.
import { Invalid, Unprocessable } from '../errors.js';

export const MIN_PASSWORD_LENGTH = 8;
const MAX_EMAIL_LENGTH = 256;
const MAX_PASSWORD_LENGTH = 256;

/** Mender keeps at most this many live PATs and login sessions per user (its defaults). */
export const MAX_TOKENS_PER_USER = 10;
export const MAX_SESSIONS_PER_USER = 10;
/** Longest PAT lifetime Mender allows: one year. */
export const MAX_TOKEN_EXPIRES_IN = 31_536_000;
const MAX_TOKEN_NAME_LENGTH = 4096;

const MAX_SETTINGS_KEYS = 1024;
const MAX_SETTINGS_KEY_LENGTH = 128;
const MAX_SETTINGS_STRING_LENGTH = 4096;

// biome-ignore lint/suspicious/noControlCharactersInRegex: "ASCII only" is the rule
const ASCII = /^[\x00-\x7f]*$/;
const LOCAL_PART = /^[a-zA-Z0-9!#$%&'*+/=?^_`{|}~.-]+$/;
const DNS_NAME = /^[a-zA-Z0-9_][a-zA-Z0-9_-]{0,62}(\.[a-zA-Z0-9_][a-zA-Z0-9_-]{0,62})*\.?$/;
const IP_LITERAL = /^\[[0-9a-fA-F:.]+\]$/;

/** Thrown when the password is shorter than Mender allows; Mender answers 422 for it, not 400. */
export class PasswordTooShort extends Unprocessable {
  constructor() {
    super(`password: must be minimum ${MIN_PASSWORD_LENGTH} characters long`);
  }
}

/** Emails are compared case-insensitively everywhere: they are kept in lower case. */
export function normalizeEmail(email: string): string {
  return email.toLowerCase();
}

/** Format checks on an email address (400 when broken). */
export function checkEmail(email: string): void {
  if (email === '') throw new Invalid('email: cannot be blank.');
  if (email.length > MAX_EMAIL_LENGTH) throw new Invalid(`email: the length must be no more than ${MAX_EMAIL_LENGTH}.`);
  if (!ASCII.test(email)) throw new Invalid('email: must contain ASCII characters only.');
  const at = email.lastIndexOf('@');
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  const valid =
    at > 0 &&
    local.length <= 64 &&
    LOCAL_PART.test(local) &&
    !local.startsWith('.') &&
    !local.endsWith('.') &&
    !local.includes('..') &&
    domain.length > 0 &&
    domain.length <= 255 &&
    (DNS_NAME.test(domain) || IP_LITERAL.test(domain));
  if (!valid) throw new Invalid('email: must be a valid email address.');
}

/** Checks on a new password: format problems are 400, a short password is 422 (as Mender answers). */
export function checkPassword(password: string): void {
  if (password === '') throw new Invalid('password: cannot be blank.');
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new Invalid(`password: the length must be no more than ${MAX_PASSWORD_LENGTH}.`);
  }
  if (!ASCII.test(password)) throw new Invalid('password: must contain ASCII characters only.');
  if (password.length < MIN_PASSWORD_LENGTH) throw new PasswordTooShort();
}

/** Mender refuses a password that appears inside the email address (case-insensitively). */
export function passwordResemblesEmail(email: string, password: string): boolean {
  if (!email || !password) return false;
  return email.toLowerCase().includes(password.toLowerCase());
}

export interface NewUser {
  email: string;
  password: string;
}

/** Validates a new user in Mender's order: field formats (400), then length (422), then similarity (422). */
export function checkNewUser(user: NewUser): void {
  checkEmail(user.email);
  checkPassword(user.password);
  if (passwordResemblesEmail(user.email, user.password)) {
    throw new Unprocessable('password is too similar to the email');
  }
}

export interface UserChange {
  email?: string;
  password?: string;
  current_password?: string;
  /** Role names to hold from now on (Mender Enterprise); absent: kept. */
  roles?: string[];
}

/** Validates the fields of an update. `v1` updates must change something; the v2 own-user update need not. */
export function checkUserChange(change: UserChange, v1: boolean): void {
  if (v1 && !change.email && !change.password && !change.roles) throw new Invalid('no update information provided');
  if (change.email) checkEmail(change.email);
  if (change.password) checkPassword(change.password);
}

/** The similarity rule for updates: the new password against the new and old email, or a new email against the current password. */
export function updateResemblesEmail(currentEmail: string, change: UserChange): boolean {
  if (change.password) {
    if (change.email && passwordResemblesEmail(change.email, change.password)) return true;
    return passwordResemblesEmail(currentEmail, change.password);
  }
  if (change.email) return passwordResemblesEmail(change.email, change.current_password ?? '');
  return false;
}

/** A settings document is a JSON object of at most 1024 keys of up to 128 characters; string values up to 4096. */
export function checkSettings(document: unknown): asserts document is Record<string, unknown> {
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    throw new Invalid('cannot parse request body as json');
  }
  const entries = Object.entries(document);
  if (entries.length > MAX_SETTINGS_KEYS) {
    throw new Invalid(`the length must be between 0 and ${MAX_SETTINGS_KEYS}.`);
  }
  for (const [key, value] of entries) {
    if (key.length > MAX_SETTINGS_KEY_LENGTH) {
      throw new Invalid(`the length must be between 0 and ${MAX_SETTINGS_KEY_LENGTH}.`);
    }
    if (typeof value === 'string' && value.length > MAX_SETTINGS_STRING_LENGTH) {
      throw new Invalid(`${key}: the length must be between 0 and ${MAX_SETTINGS_STRING_LENGTH}.`);
    }
  }
}

export interface TokenRequest {
  name?: string;
  expires_in?: number;
}

/** A PAT needs a name; `expires_in` is 0 (never expires) up to one year. */
export function checkTokenRequest(request: TokenRequest): void {
  if (!request.name) throw new Invalid('name: cannot be blank.');
  if (request.name.length > MAX_TOKEN_NAME_LENGTH) {
    throw new Invalid(`name: the length must be between 0 and ${MAX_TOKEN_NAME_LENGTH}.`);
  }
  const expiresIn = request.expires_in ?? 0;
  if (expiresIn < 0) throw new Invalid('expires_in: must be no less than 0.');
  if (expiresIn > MAX_TOKEN_EXPIRES_IN)
    throw new Invalid(`expires_in: must be no greater than ${MAX_TOKEN_EXPIRES_IN}.`);
}

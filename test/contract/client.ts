// A small HTTP client for the contract scenarios: every call goes through contractInject, so each response is checked
// against the official spec before the scenario looks at it.
import assert from 'node:assert/strict';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import type { TestApp } from '../support/app.js';
import { contractInject } from '../support/contract.js';

export interface CallOptions {
  payload?: InjectOptions['payload'];
  headers?: Record<string, string>;
  /** The request body is wrong on purpose (the server must refuse it). */
  invalidRequest?: boolean;
  /** The route is in no spec; it must be listed in deviations.ts. */
  undocumented?: boolean;
  /** The status the scenario expects; checked after the contract. */
  expect?: number;
}

export type Call = (method: string, url: string, options?: CallOptions) => Promise<LightMyRequestResponse>;

/** Calls as the holder of `token` (a user or device JWT), or anonymously. */
export function caller(t: TestApp, token?: string): Call {
  return async (method, url, options = {}) => {
    const headers: Record<string, string> = {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...options.headers,
    };
    const res = await contractInject(
      t.app,
      { method: method as InjectOptions['method'], url, payload: options.payload, headers },
      { invalidRequest: options.invalidRequest, undocumented: options.undocumented },
    );
    if (options.expect !== undefined) assert.equal(res.statusCode, options.expect, `${method} ${url}: ${res.body}`);
    return res;
  };
}

export const basicAuth = (email: string, password: string) =>
  `Basic ${Buffer.from(`${email}:${password}`).toString('base64')}`;

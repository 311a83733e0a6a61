// Paging as the Mender APIs do it: `page` and `per_page` in the query, `X-Total-Count` and an RFC 8288 `Link`
// header with first / prev / next.
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Invalid } from '../errors.js';

/** The query's paging keys, to spread into a route's querystring schema; pageOf checks their range. */
export const pagingQuery = { page: Type.Optional(Type.Integer()), per_page: Type.Optional(Type.Integer()) };

export interface PageQuery {
  page?: number;
  per_page?: number;
}

export function pageOf(query: PageQuery, defaultPerPage = 20, maxPerPage = 500): { page: number; perPage: number } {
  const page = query.page ?? 1;
  const perPage = query.per_page ?? defaultPerPage;
  if (!Number.isInteger(page) || page < 1) throw new Invalid('invalid page value: must be a positive integer');
  if (!Number.isInteger(perPage) || perPage < 1 || perPage > maxPerPage) {
    throw new Invalid(`invalid per_page value: must be an integer between 1 and ${maxPerPage}`);
  }
  return { page, perPage };
}

/**
 * Sets Mender's paging headers: one `Link` header per relation (first, prev, next, and last when the total is
 * known), each the request URL with `page` and `per_page` set and the query keys sorted as Go's url.Values.Encode
 * writes them; and `X-Total-Count` when the total is known.
 */
export function setPageHeaders(
  request: FastifyRequest,
  reply: FastifyReply,
  page: { page: number; perPage: number },
  total: number | undefined,
  hasMore = total === undefined ? false : page.page * page.perPage < total,
): void {
  const [path, search = ''] = request.url.split('?', 2);
  const link = (p: number, rel: string) => {
    const params = new URLSearchParams(search);
    params.set('per_page', String(page.perPage));
    params.set('page', String(p));
    params.sort();
    return `<${path}?${params.toString()}>; rel="${rel}"`;
  };
  const links = [link(1, 'first')];
  if (page.page > 1) links.push(link(page.page - 1, 'prev'));
  if (hasMore) links.push(link(page.page + 1, 'next'));
  if (total !== undefined && total > 0) links.push(link(Math.floor((total - 1) / page.perPage) + 1, 'last'));
  reply.header('Link', links);
  if (total !== undefined) reply.header('X-Total-Count', String(total));
}

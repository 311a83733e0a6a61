// An HTTP relay for tests of interrupted downloads: forwards every request unchanged (Host header included, so that
// presigned S3 links signed for the relay's address stay valid) to one origin, records what passed, and when armed
// cuts the next matching response after N body bytes by destroying the client's connection, as a dropped link would.
import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';

export interface RelayedRequest {
  method: string;
  path: string;
  range?: string;
  status: number;
  /** Body bytes that reached the client (fewer than the answer's when cut). */
  bytes: number;
  cut: boolean;
}

export interface CuttingRelay {
  /** `http://127.0.0.1:PORT` */
  url: string;
  requests: RelayedRequest[];
  /** The next GET whose path matches is cut after `afterBytes` bytes of its body. */
  cutNext(path: RegExp, afterBytes: number): void;
  close(): Promise<void>;
}

export async function startCuttingRelay(origin: string): Promise<CuttingRelay> {
  const target = new URL(origin);
  const requests: RelayedRequest[] = [];
  let armed: { path: RegExp; afterBytes: number } | undefined;
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/';
    const cut = req.method === 'GET' && armed?.path.test(path.split('?')[0]) ? armed : undefined;
    if (cut) armed = undefined;
    const entry: RelayedRequest = {
      method: req.method ?? '',
      path,
      range: req.headers.range,
      status: 0,
      bytes: 0,
      cut: false,
    };
    requests.push(entry);
    const upstream = httpRequest(
      { host: target.hostname, port: target.port, method: req.method, path, headers: req.headers },
      (answer: IncomingMessage) => {
        entry.status = answer.statusCode ?? 0;
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.on('data', (chunk: Buffer) => {
          if (cut && entry.bytes + chunk.length >= cut.afterBytes) {
            const rest = chunk.subarray(0, cut.afterBytes - entry.bytes);
            entry.bytes += rest.length;
            entry.cut = true;
            answer.destroy();
            // The bytes before the cut reach the client, then its connection drops mid-body.
            res.write(rest, () => req.socket.destroy());
            return;
          }
          entry.bytes += chunk.length;
          if (!res.write(chunk)) {
            answer.pause();
            res.once('drain', () => answer.resume());
          }
        });
        answer.on('end', () => res.end());
        answer.on('error', () => res.destroy());
      },
    );
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    cutNext(path, afterBytes) {
      armed = { path, afterBytes };
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// A fixed offered rate, paced evenly (open loop): request i is due at start + i / rate whatever became of the ones
// before it, as devices poll on their own clocks. Its latency counts from when it was written to a connection, or,
// when all connections were busy and it had to wait for one, from when it was due: a device of its own would have
// sent it then, so a slow server shows in full (no coordinated omission), while the client's own timer lag on a
// busy machine does not.
//
// Why not autocannon's `overallRate`: it lets each connection send its quota for the second as fast as it can at
// the start of every second and then idle, so at half the server's most requests/s the server runs at full load
// for half of every second, and even a bare server's p99 is then several times its p99 at full speed. Why not
// node:http: its client costs tens of microseconds a request, and on a busy 2-core machine the client then falls
// behind its own schedule at a few thousand requests/s. This one writes prebuilt requests on keep-alive sockets
// and reads no more of an answer than its status line, its length and its end, as autocannon does.
import { connect, type Socket } from 'node:net';
import { type LoadFigures, percentile, type RequestVariant } from './load.js';

export interface PacedOptions {
  url: string;
  method: 'GET' | 'POST';
  body?: string;
  /** Used in turn, one per request. */
  requests: RequestVariant[];
  /** Requests per second. */
  rate: number;
  durationSeconds: number;
  /** Keep-alive connections the client may open (opened as needed; a request beyond them waits, and that counts). */
  maxConnections: number;
}

export const PACED_CONNECTIONS = 100;

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive connection with at most one request in flight; `onAnswer` hears of each complete answer. */
class Connection {
  private buffered: Buffer = Buffer.alloc(0);
  /** When the request in flight started to count. */
  private pending: { since: number } | undefined;
  readonly socket: Socket;
  closed = false;

  constructor(
    host: string,
    port: number,
    private readonly onAnswer: (connection: Connection, since: number, status: number) => void,
    private readonly onClose: (connection: Connection, error?: Error) => void,
  ) {
    this.socket = connect({ host, port, noDelay: true });
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('error', (error) => this.close(error));
    this.socket.on('close', () => this.close());
  }

  get busy(): boolean {
    return this.pending !== undefined;
  }

  /** Writes `request`; its latency counts from `since` (now, unless it waited for this connection). */
  send(request: Buffer, since = performance.now()): void {
    this.pending = { since };
    this.socket.write(request);
  }

  private read(chunk: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    const headerEnd = this.buffered.indexOf(HEADER_END);
    if (headerEnd < 0) return;
    const head = this.buffered.subarray(0, headerEnd).toString('latin1');
    const status = Number(head.slice(9, 12));
    const bodyStart = headerEnd + 4;
    let end: number;
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (status === 204 || status === 304) end = bodyStart;
    else if (length) end = bodyStart + Number(length[1]);
    else if (/\r\ntransfer-encoding:\s*chunked/i.test(head)) {
      const last = this.buffered.indexOf('0\r\n\r\n', bodyStart);
      if (last < 0) return;
      end = last + 5;
    } else {
      this.close(new Error(`an answer without a length: ${head.split('\r\n')[0]}`));
      return;
    }
    if (this.buffered.length < end) return;
    this.buffered = this.buffered.subarray(end);
    const pending = this.pending;
    this.pending = undefined;
    if (pending) this.onAnswer(this, pending.since, status);
    if (/\r\nconnection:\s*close/i.test(head)) this.socket.end();
  }

  close(error?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    this.onClose(this, this.pending ? (error ?? new Error('connection closed before the answer')) : undefined);
  }
}

export function paced(options: PacedOptions): Promise<LoadFigures> {
  const url = new URL(options.url);
  const host = url.hostname;
  const port = Number(url.port || 80);
  const body = options.body === undefined ? undefined : Buffer.from(options.body);
  const prebuilt = options.requests.map((variant) => {
    const lines = [
      `${options.method} ${variant.path} HTTP/1.1`,
      `host: ${url.host}`,
      ...(variant.authorization ? [`authorization: ${variant.authorization}`] : []),
      ...(body ? ['content-type: application/json', `content-length: ${body.length}`] : []),
    ];
    const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
    return body ? Buffer.concat([head, body]) : head;
  });
  const total = Math.max(1, Math.round(options.rate * options.durationSeconds));
  const interval = 1000 / options.rate;
  const times: number[] = [];
  const failures: string[] = [];
  const idle: Connection[] = [];
  const all = new Set<Connection>();
  /** Requests due but waiting for a free connection: their due times. */
  const waiting: { index: number; due: number }[] = [];
  let sent = 0;
  let finished = 0;
  let lastEnd = 0;
  const start = performance.now();

  return new Promise<LoadFigures>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (timer) clearTimeout(timer);
      for (const connection of all) connection.socket.destroy();
      if (failures.length) {
        reject(new Error(`paced load: ${failures.length} of ${total} failed, e.g. ${failures.slice(0, 3).join('; ')}`));
        return;
      }
      times.sort((a, b) => a - b);
      const seconds = (lastEnd - start) / 1000;
      resolve({
        requestsPerSecond: total / seconds,
        p50Ms: percentile(times, 0.5),
        p99Ms: percentile(times, 0.99),
        requests: total,
        seconds,
      });
    };
    const settle = () => {
      if (++finished === total) finish();
    };
    const dispatch = (connection: Connection) => {
      const next = waiting.shift();
      if (next) connection.send(prebuilt[next.index % prebuilt.length], next.due);
      else idle.push(connection);
    };
    const onAnswer = (connection: Connection, since: number, status: number) => {
      lastEnd = performance.now();
      if (status >= 200 && status < 300) times.push(lastEnd - since);
      else failures.push(`status ${status}`);
      settle();
      dispatch(connection);
    };
    const onClose = (connection: Connection, error?: Error) => {
      all.delete(connection);
      const at = idle.indexOf(connection);
      if (at >= 0) idle.splice(at, 1);
      if (error) {
        failures.push(error.message);
        settle();
      }
      // Whoever waits gets a fresh connection.
      if (waiting.length && finished < total) dispatch(open());
    };
    const open = () => {
      const connection = new Connection(host, port, onAnswer, onClose);
      all.add(connection);
      return connection;
    };
    const fire = (index: number, due: number) => {
      const connection = idle.pop() ?? (all.size < options.maxConnections ? open() : undefined);
      if (connection) connection.send(prebuilt[index % prebuilt.length]);
      else waiting.push({ index, due });
    };
    const tick = () => {
      const now = performance.now();
      while (sent < total && start + sent * interval <= now) {
        fire(sent, start + sent * interval);
        sent++;
      }
      if (sent < total) timer = setTimeout(tick, Math.max(0, start + sent * interval - performance.now()));
    };
    tick();
  });
}

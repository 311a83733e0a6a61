// Limits of the embedded broker on what one network peer may cost before and after it proves who it is. aedes
// buffers a packet whole before it looks at it: an unauthenticated client announcing a 250 MiB CONNECT cost
// 250 MiB, and nothing capped connections or password guesses (issue 18, point 2).

export interface BrokerLimits {
  /** Largest packet (fixed header included) read from a connection whose CONNECT is not accepted yet. */
  maxPacketBeforeAuth: number;
  /** Largest packet read from an authenticated device. */
  maxPacket: number;
  /** Open connections per remote address; further ones are closed at once. */
  maxConnectionsPerAddress: number;
  /** Refused logins per address within `failedLoginWindowMs`; past it logins are refused unchecked till it ends. */
  maxFailedLogins: number;
  failedLoginWindowMs: number;
}

export const DEFAULT_BROKER_LIMITS: BrokerLimits = {
  maxPacketBeforeAuth: 64 * 1024,
  maxPacket: 1024 * 1024 + 64 * 1024,
  // The fleet simulator runs thousands of Kanto devices from one address.
  maxConnectionsPerAddress: 10_000,
  maxFailedLogins: 20,
  failedLoginWindowMs: 60_000,
};

/**
 * Follows MQTT's framing over a connection's bytes (a fixed-header byte, the remaining length in one to four
 * bytes of 7 bits, then that many bytes), so that a packet's announced size is known from its first bytes, before
 * the broker buffers any of its body.
 */
export class PacketFrames {
  private state: 'header' | 'length' | 'body' = 'header';
  private length = 0;
  private multiplier = 1;
  private lengthBytes = 0;
  private left = 0;

  /** Reads a chunk; returns the size a packet announces when it is over `limit` (or malformed), else undefined. */
  over(chunk: Buffer, limit: number): number | undefined {
    let i = 0;
    while (i < chunk.length) {
      if (this.state === 'header') {
        i++;
        this.state = 'length';
        this.length = 0;
        this.multiplier = 1;
        this.lengthBytes = 0;
      } else if (this.state === 'length') {
        const byte = chunk[i++];
        this.length += (byte & 0x7f) * this.multiplier;
        this.multiplier *= 128;
        this.lengthBytes++;
        if (byte & 0x80) {
          if (this.lengthBytes === 4) return Number.POSITIVE_INFINITY;
          continue;
        }
        const size = 1 + this.lengthBytes + this.length;
        if (size > limit) return size;
        this.left = this.length;
        this.state = this.left === 0 ? 'header' : 'body';
      } else {
        const take = Math.min(this.left, chunk.length - i);
        i += take;
        this.left -= take;
        if (this.left === 0) this.state = 'header';
      }
    }
    return undefined;
  }
}

/** Open connections and refused logins per remote address. */
export class PeerBook {
  private readonly connections = new Map<string, number>();
  private readonly failures = new Map<string, { since: number; count: number }>();

  constructor(
    private readonly limits: BrokerLimits,
    private readonly clock: () => number = Date.now,
  ) {}

  /** Counts a new connection; false when the address already has as many as it may. */
  connect(address: string): boolean {
    const open = this.connections.get(address) ?? 0;
    if (open >= this.limits.maxConnectionsPerAddress) return false;
    this.connections.set(address, open + 1);
    return true;
  }

  disconnect(address: string): void {
    const open = (this.connections.get(address) ?? 1) - 1;
    if (open <= 0) this.connections.delete(address);
    else this.connections.set(address, open);
  }

  /** Whether logins from the address are refused unchecked for now. */
  throttled(address: string): boolean {
    const entry = this.failures.get(address);
    if (!entry) return false;
    if (this.clock() - entry.since >= this.limits.failedLoginWindowMs) {
      this.failures.delete(address);
      return false;
    }
    return entry.count >= this.limits.maxFailedLogins;
  }

  loginFailed(address: string): void {
    const at = this.clock();
    const entry = this.failures.get(address);
    if (!entry || at - entry.since >= this.limits.failedLoginWindowMs)
      this.failures.set(address, { since: at, count: 1 });
    else entry.count++;
    // The map holds at most one entry per address that failed within the window; old ones go as they are seen.
    if (this.failures.size > 100_000) {
      for (const [key, value] of this.failures)
        if (at - value.since >= this.limits.failedLoginWindowMs) this.failures.delete(key);
    }
  }
}

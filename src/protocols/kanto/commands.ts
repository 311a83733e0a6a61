// Commands waiting for the device's answer, by correlation id. Each attempt gets a fresh correlation id; an answer
// to any attempt settles the command, and every later answer with one of its ids (or any id never sent) is refused
// as unknown or replayed. A command unanswered after its last attempt settles as timed out. A command also has a
// key (its activity id): a device that shows by other means that the command arrived (feedback or a current state
// naming the activity) settles it too, so it is not sent again — the answer is optional on the wire (a
// suite-connector in generic mode never forwards it).
import { randomUUID } from 'node:crypto';
import type { DeviceRef } from '../../broker/topics.js';

export type CommandOutcome =
  | { kind: 'answered'; status: number; error?: string }
  /** No answer came, but the device acted on the command (see `started`). */
  | { kind: 'started' }
  | { kind: 'timeout'; attempts: number }
  /** The server is shutting down: nobody waits any longer, and nothing is to be concluded about the device. */
  | { kind: 'closed' };

/** Sends one attempt with this correlation id; a failure to publish counts as an unanswered attempt. */
export type SendAttempt = (correlationId: string, attempt: number) => Promise<void>;

export type AnswerVerdict = 'accepted' | 'unknown' | 'replayed' | 'wrong-device';

interface Waiting {
  ref: DeviceRef;
  key: string;
  ids: string[];
  settle: (outcome: CommandOutcome) => void;
}

/** How many answered ids are remembered to call a replay a replay (older ones are just unknown). */
const REMEMBERED = 10_000;

export class CommandTracker {
  private readonly waiting = new Map<string, Waiting>();
  private readonly byKey = new Map<string, Waiting>();
  private readonly answered = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly options: { timeoutMs: number; attempts: number }) {}

  /**
   * Sends a command with retries; resolves when the device answered, started on it, or every attempt timed out.
   * `key` names the command for `started` and `isWaiting` (one command per key at a time).
   */
  run(ref: DeviceRef, key: string, send: SendAttempt): Promise<CommandOutcome> {
    return new Promise((resolve) => {
      const waiting: Waiting = {
        ref,
        key,
        ids: [],
        settle: (outcome) => {
          for (const id of waiting.ids) {
            this.waiting.delete(id);
            this.remember(id);
          }
          if (this.byKey.get(key) === waiting) this.byKey.delete(key);
          resolve(outcome);
        },
      };
      this.byKey.get(key)?.settle({ kind: 'closed' });
      this.byKey.set(key, waiting);
      let settled = false;
      const settleOnce = waiting.settle;
      waiting.settle = (outcome) => {
        if (settled) return;
        settled = true;
        settleOnce(outcome);
      };
      const attempt = (n: number) => {
        if (settled) return;
        if (this.closed) {
          waiting.settle({ kind: 'closed' });
          return;
        }
        if (n > this.options.attempts) {
          waiting.settle({ kind: 'timeout', attempts: n - 1 });
          return;
        }
        const id = randomUUID();
        waiting.ids.push(id);
        this.waiting.set(id, waiting);
        send(id, n).catch(() => undefined);
        const timer = setTimeout(() => {
          this.timers.delete(timer);
          attempt(n + 1);
        }, this.options.timeoutMs);
        this.timers.add(timer);
      };
      attempt(1);
    });
  }

  private remember(id: string): void {
    this.answered.add(id);
    if (this.answered.size > REMEMBERED) {
      const oldest = this.answered.values().next().value;
      if (oldest !== undefined) this.answered.delete(oldest);
    }
  }

  /** A device answered: settles its command (whose key comes back), or says why the answer is refused. */
  answer(
    correlationId: string,
    from: DeviceRef,
    status: number,
    error?: string,
  ): { verdict: 'accepted'; key: string } | { verdict: Exclude<AnswerVerdict, 'accepted'> } {
    const waiting = this.waiting.get(correlationId);
    if (!waiting) return { verdict: this.answered.has(correlationId) ? 'replayed' : 'unknown' };
    if (waiting.ref.tenantId !== from.tenantId || waiting.ref.deviceId !== from.deviceId) {
      return { verdict: 'wrong-device' };
    }
    waiting.settle({ kind: 'answered', status, ...(error ? { error } : {}) });
    return { verdict: 'accepted', key: waiting.key };
  }

  /**
   * The device acted on the command named `key` (its feedback or current state names the activity): no answer is
   * awaited any longer and nothing is sent again. Answers whether a command was waiting.
   */
  started(key: string): boolean {
    const waiting = this.byKey.get(key);
    if (!waiting) return false;
    waiting.settle({ kind: 'started' });
    return true;
  }

  /** Whether this process still waits on the command named `key`. */
  isWaiting(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Commands still waiting, for tests and shutdown. */
  get pending(): number {
    return new Set(this.waiting.values()).size;
  }

  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const waiting of new Set(this.waiting.values())) waiting.settle({ kind: 'closed' });
  }
}

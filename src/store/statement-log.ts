// Counts the SQL statements a store sends, transaction control included, and keeps their text while someone asks
// for it. Tests hold requests to a statement budget with the count and print the texts when a budget is broken.

export class StatementLog {
  /** Statements sent since the store opened. */
  count = 0;
  private texts: string[] | undefined;

  record(sql: string): void {
    this.count++;
    if (this.texts !== undefined) this.texts.push(sql);
  }

  /** Switches recording of texts on or off and hands back what was recorded since the previous call. */
  trace(on: boolean): string[] {
    const recorded = this.texts ?? [];
    this.texts = on ? [] : undefined;
    return recorded;
  }
}

import { isDatabaseUnavailable } from '../db/prisma-errors.js';
import type { AuditLogInput, AuditLogRepository } from '../db/repositories/audit-logs.js';
import type { Log } from '../logger.js';

export interface AuditBufferOptions {
  flushIntervalMs: number;
  batchSize: number;
  /** Rows kept while the database is unreachable; past it the oldest are dropped and logged. */
  maxPending?: number;
}

/**
 * Collects audit rows in memory and writes them in batches, so auditing adds no database round
 * trip to a request. A failed batch is retried row by row: rows the database refuses on their own
 * merits are logged and dropped, the rest are kept for the next flush. close() flushes everything.
 */
export class AuditBuffer {
  private pending: AuditLogInput[] = [];
  private flushing: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout;
  private readonly maxPending: number;

  constructor(
    private readonly repository: AuditLogRepository,
    private readonly logger: Log,
    private readonly options: AuditBufferOptions,
  ) {
    this.maxPending = options.maxPending ?? 100_000;
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs);
    this.timer.unref();
  }

  get size(): number {
    return this.pending.length;
  }

  /** Queues a row; never throws and never waits for the database. */
  add(entry: AuditLogInput): void {
    this.pending.push({ ...entry, createdAt: entry.createdAt ?? new Date() });
    if (this.pending.length > this.maxPending) {
      const dropped = this.pending.splice(0, this.pending.length - this.maxPending);
      this.logger.error({ dropped: dropped.length }, 'audit buffer full, oldest rows dropped');
    }
    if (this.pending.length >= this.options.batchSize) void this.flush();
  }

  /** Writes what is pending now. Concurrent calls share one flush. */
  flush(): Promise<void> {
    this.flushing ??= this.drain().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  /**
   * Stops the timer and writes everything. While the database is unreachable it tries a few more
   * times over about three seconds, then logs how many rows it could not write.
   */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (let attempt = 0; attempt < 5 && (this.flushing || this.pending.length > 0); attempt += 1) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 300 * attempt));
      await this.flush();
    }
    if (this.pending.length > 0) {
      this.logger.error({ lost: this.pending.length }, 'audit rows could not be written at shutdown');
    }
  }

  private async drain(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending.splice(0, this.options.batchSize);
      const kept = await this.writeBatch(batch);
      if (kept.length > 0) {
        this.pending.unshift(...kept);
        return;
      }
    }
  }

  /** Returns the rows to try again later. */
  private async writeBatch(batch: AuditLogInput[]): Promise<AuditLogInput[]> {
    try {
      const count = await this.repository.createAuditLogs(batch);
      this.logger.debug({ rows: count }, 'audit batch written');
      return [];
    } catch (error) {
      this.logger.warn({ err: error, rows: batch.length }, 'audit batch failed, retrying row by row');
    }

    const retry: AuditLogInput[] = [];
    for (const entry of batch) {
      try {
        await this.repository.createAuditLog(entry);
      } catch (error) {
        if (isDatabaseUnavailable(error)) retry.push(entry);
        else this.logger.error({ err: error, action: entry.action }, 'audit row refused, dropped');
      }
    }
    return retry;
  }
}

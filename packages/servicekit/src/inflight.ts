import { Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import { finalize, type Observable } from 'rxjs';

/** Counts requests being handled, so a stopping service can wait for them to finish. */
export class InflightRequests {
  private count = 0;
  private waiters: Array<() => void> = [];

  enter(): void {
    this.count++;
  }
  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }
  get size(): number {
    return this.count;
  }
  /** Resolves true when nothing is in flight, false when the timeout came first. */
  idle(timeoutMs: number): Promise<boolean> {
    if (this.count === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}

@Injectable()
export class InflightInterceptor implements NestInterceptor {
  constructor(private readonly inflight: InflightRequests) {}
  intercept(_context: ExecutionContext, next: CallHandler): Observable<unknown> {
    this.inflight.enter();
    return next.handle().pipe(finalize(() => this.inflight.leave()));
  }
}

/**
 * The last lines a child process wrote. Kept so that a failure (a server that does not come up,
 * a test that fails, a process that dies) can be explained with what the process said.
 */
export class OutputTail {
  private readonly lines: string[] = [];
  private partial = '';

  constructor(private readonly maxLines = 400) {}

  /** Appends a chunk of output; chunks need not end at line boundaries. */
  write(chunk: string | Uint8Array): void {
    const text = this.partial + (typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
    const parts = text.split(/\r?\n/);
    this.partial = parts.pop() ?? '';
    for (const line of parts) this.push(line);
    // A very long line without a newline is kept whole only up to a bound.
    if (this.partial.length > 64 * 1024) {
      this.push(this.partial);
      this.partial = '';
    }
  }

  /** The retained lines (including an unfinished last line), at most `maxLines` of them. */
  text(maxLines = this.maxLines): string {
    const all = this.partial ? [...this.lines, this.partial] : this.lines;
    return all.slice(-maxLines).join('\n');
  }

  /** Whether the retained output contains `needle`. */
  includes(needle: string): boolean {
    return this.partial.includes(needle) || this.lines.some((l) => l.includes(needle));
  }

  private push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > this.maxLines) this.lines.splice(0, this.lines.length - this.maxLines);
  }
}

/** A line longer than the splitter's bound: the stream it came on cannot be trusted further. */
export class LineTooLongError extends Error {
  constructor(readonly lineBytesMax: number) {
    super(`a line is longer than ${lineBytesMax} bytes`);
    this.name = 'LineTooLongError';
  }
}

const newline = 0x0a;

/**
 * Cuts a byte stream into newline-terminated lines (UTF-8, the newline not included), holding at
 * most `lineBytesMax` bytes of an unfinished line. Chunk boundaries may fall anywhere, inside a
 * multi-byte character too: bytes are joined before they are decoded.
 */
export class LineSplitter {
  private partial: Buffer[] = [];
  private partialBytes = 0;

  constructor(readonly lineBytesMax: number) {
    if (!Number.isSafeInteger(lineBytesMax) || lineBytesMax < 1) throw new Error(`lineBytesMax must be a positive integer, got ${lineBytesMax}`);
  }

  /** The lines this chunk completes, oldest first, decoded as UTF-8; throws LineTooLongError past the bound. */
  push(chunk: Buffer): string[] {
    return this.pushBytes(chunk).map((line) => line.toString('utf8'));
  }

  /**
   * The lines this chunk completes, oldest first, as bytes (for a reader that must refuse a line
   * that is not valid UTF-8 rather than decode it leniently); throws LineTooLongError past the bound.
   * A line may share memory with `chunk`.
   */
  pushBytes(chunk: Buffer): Buffer[] {
    const lines: Buffer[] = [];
    let start = 0;
    for (let end = chunk.indexOf(newline); end !== -1; end = chunk.indexOf(newline, start)) {
      this.hold(end - start);
      if (this.partial.length === 0) {
        lines.push(chunk.subarray(start, end));
      } else {
        this.partial.push(chunk.subarray(start, end));
        lines.push(Buffer.concat(this.partial, this.partialBytes + end - start));
        this.partial = [];
        this.partialBytes = 0;
      }
      start = end + 1;
    }
    if (start < chunk.length) {
      this.hold(chunk.length - start);
      this.partial.push(chunk.subarray(start));
      this.partialBytes += chunk.length - start;
    }
    return lines;
  }

  /** Bytes of an unfinished line held. */
  get heldBytes(): number {
    return this.partialBytes;
  }

  private hold(moreBytes: number): void {
    if (this.partialBytes + moreBytes > this.lineBytesMax) throw new LineTooLongError(this.lineBytesMax);
  }
}

/**
 * A bare JSONL file for the viewer: pages of records and a search, read from disk through a
 * LineIndex built once at open.
 */
import { type IndexedLine, LineIndex } from "./line-index.ts";

/** One record as the page gets it: the line parsed, or its text when it is not JSON; `utf8` false when the line has bytes that are not UTF-8 (shown as U+FFFD). */
export interface JsonlRecordView {
  index: number;
  line: number;
  value: unknown;
  valid: boolean;
  utf8: boolean;
}

/** The head of the JSONL page. */
export interface JsonlFileInfo {
  path: string;
  bytes: number;
  records: number;
}

function view(line: IndexedLine): JsonlRecordView {
  try {
    return { index: line.index, line: line.line, value: JSON.parse(line.text), valid: true, utf8: line.utf8 };
  } catch {
    return { index: line.index, line: line.line, value: line.text, valid: false, utf8: line.utf8 };
  }
}

/** An indexed JSONL file. */
export class JsonlSource {
  readonly index: LineIndex;

  private constructor(index: LineIndex) {
    this.index = index;
  }

  static async open(path: string): Promise<JsonlSource> {
    return new JsonlSource(await LineIndex.open(path));
  }

  info(): JsonlFileInfo {
    return { path: this.index.file, bytes: this.index.size, records: this.index.count };
  }

  /** Records `from` .. `from + n - 1` (0-based among non-blank lines). */
  async page(from: number, n: number): Promise<JsonlRecordView[]> {
    return (await this.index.readRange(from, n)).map(view);
  }

  /** Records whose line contains `query`, from record `from` on; `next` continues the search. */
  async search(query: string, from: number, limit: number): Promise<{ records: JsonlRecordView[]; next: number | null }> {
    const { indices, next } = await this.index.search(query, { from, limit });
    const records: JsonlRecordView[] = [];
    for (const i of indices) records.push(view(await this.index.read(i)));
    return { records, next };
  }

  async close(): Promise<void> {
    await this.index.close();
  }
}

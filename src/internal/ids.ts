/** Random ids in the shapes OpenAI uses (`file-…`, `batch_…`, `batch_req_…`, `req_…`). */
import { randomFillSync } from "node:crypto";

// Random bytes are drawn 4 KiB at a time: one call into the CSPRNG per ~340 ids, not one per id
// (a direct submit makes two ids per request).
const POOL = Buffer.alloc(4096);
let used = POOL.length;

export function randomId(prefix: string, bytes = 12): string {
  if (bytes > POOL.length) return `${prefix}${randomFillSync(Buffer.alloc(bytes)).toString("hex")}`;
  if (used + bytes > POOL.length) {
    randomFillSync(POOL);
    used = 0;
  }
  const hex = POOL.toString("hex", used, used + bytes);
  used += bytes;
  return `${prefix}${hex}`;
}
